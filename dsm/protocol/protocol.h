#pragma once
// A coherence protocol: a pure, deterministic state machine for one node.
//
// Events go in (a local fault, an eviction, an incoming message, a retry
// timeout); actions come out (dsm/protocol/action.h) and the driver executes
// them in order. No I/O, no clocks, no threads: the same calls in the same
// order give the same actions, which is what the unit tests and the model
// check (model_check.h) rely on.
//
// Contract with the driver (the fault engine):
//  - Local faults: on_fault(frame, access) when a local access lacks
//    permission. Concurrent faults on one frame may all be reported; the
//    protocol coalesces them into one request. The driver keeps its waiters
//    and wakes those with access <= A on kComplete{frame, A}.
//  - Messages: on_message() with each received message; if it carried a
//    page, the driver keeps the bytes until the call returns and serves
//    PageSource::kIncoming from them. An error return means the message was
//    rejected (malformed or impossible in any state); it changed nothing and
//    was counted in stats().rejected.
//  - Timers: after kArmTimer{frame} the driver calls on_timeout(frame) once
//    the retry interval has passed. Spurious or late timeouts are harmless.
//  - The network may drop, duplicate, delay and reorder messages; the
//    protocols retry on timeout and recognise stale or repeated messages.
//
//  - Order: carry out one call's actions for a frame before the next call's
//    actions for that frame (Install/Drop order matters; sends may leave
//    asynchronously).
//
// Threads: none inside. A driver serialises calls on one instance (a mutex
// per instance, held only for the call). The protocols keep no state that
// spans frames, so a driver may also shard by frame, one instance per shard
// (each then sizes its tables for the whole region).

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "dsm/protocol/action.h"
#include "dsm/protocol/message.h"
#include "dsm/protocol/placement.h"
#include "dsm/protocol/types.h"

namespace dsm::protocol {

struct ProtocolConfig {
  NodeId self = 0;
  uint16_t node_count = 1;
  uint64_t frame_count = 0;
  std::shared_ptr<const Placement> placement;  // must cover node_count nodes
  // The epoch every frame starts in, the same on all nodes. Tests start near
  // 2^32 to run across the wrap (versions compare as serial numbers).
  Version first_version = 0;
};

struct ProtocolStats {
  std::array<uint64_t, kMaxMsgType + 1> sent{};      // by MsgType
  std::array<uint64_t, kMaxMsgType + 1> received{};  // accepted, by MsgType
  uint64_t rejected = 0;       // malformed or impossible messages (changed nothing)
  uint64_t stale = 0;          // duplicates and out-of-date messages (ignored)
  uint64_t faults = 0;         // on_fault calls that needed the protocol
  uint64_t coalesced = 0;      // faults joined to a request already in flight
  uint64_t retries = 0;        // messages re-sent after a timeout or a stale reply
  uint64_t invalidations = 0;  // Shared copies this node dropped on request
  uint64_t evictions = 0;      // on_evict calls that released a copy
  uint64_t forwards = 0;       // requests passed on to a probable owner (ivy)
  uint64_t queued = 0;         // requests parked behind a busy frame
  // first-touch placement (dsm/PROTOCOLS.md "Placement"):
  uint64_t claims = 0;          // claims this node started (a fault on a frame of unknown home)
  uint64_t homes_won = 0;       // frames this node became home of by its claim
  uint64_t claims_decided = 0;  // as arbiter: frames whose first claim it granted
  uint64_t redirects = 0;       // as arbiter: requests answered with the home (msi-home)
  // node failure (dsm/PROTOCOLS.md "Node failure"):
  uint64_t nodes_down = 0;     // on_node_down calls for a node that was up
  uint64_t from_down = 0;      // messages rejected because their sender was declared down
                               // (also counted in `rejected`)
  uint64_t lost_frames = 0;    // frames that became lost on this node (kFail), at home
                               // or as a requester
  uint64_t failed_faults = 0;  // local faults answered kFail
  uint64_t acks_waived = 0;    // awaited invalidation acks counted as received (dead sharer)
};
// Adds every counter of `more` (a region's totals across protocol instances,
// e.g. after Region::reset).
ProtocolStats& operator+=(ProtocolStats& to, const ProtocolStats& more);

// What a node knows about its own copy of a frame.
struct FrameView {
  LocalState state = LocalState::kInvalid;
  Access pending = Access::kNone;  // the access a request in flight will give
  bool busy = false;               // a write-back/hand-back or invalidation round runs
  Version version = 0;
  bool lost = false;  // the frame is lost on this node: every fault on it fails
};

class Protocol {
 public:
  virtual ~Protocol() = default;

  virtual std::string_view name() const = 0;
  virtual const ProtocolConfig& config() const = 0;

  // A local access to `frame` needs `access` (kRead or kWrite). Appends to
  // `out`; may complete at once (kComplete) when the copy already suffices.
  virtual void on_fault(FrameId frame, Access access, Actions* out) = 0;
  // The driver wants to release its cached copy of `frame`. Errors
  // (EBUSY: a request or hand-over for the frame is in flight) leave
  // everything unchanged; retry later.
  // Success may still keep the copy until a write-back is acknowledged.
  virtual base::Status on_evict(FrameId frame, Actions* out) = 0;
  virtual base::Status on_message(const Message& msg, Actions* out) = 0;
  virtual void on_timeout(FrameId frame, Actions* out) = 0;
  // Cluster membership declared `node` dead (its process is gone, with every
  // copy it held). From now on its messages are rejected (counted in
  // stats().from_down); waits on it end: its invalidation acks count as
  // received, requests to it fail, frames whose only current copy it held
  // are lost (kFail for local faults; a Lost answer to requesters). See
  // dsm/PROTOCOLS.md "Node failure". Repeated calls are harmless.
  // node == self: this node is a new incarnation of one that died while the
  // cluster ran (a peer knew the old one): what the old one homed or
  // decided as an arbiter died with it, so faults on those frames fail and
  // requests for them are answered Lost ("A node that restarted").
  virtual void on_node_down(NodeId node, Actions* out) = 0;
  // `node` is back as a new incarnation: an empty node (it holds no copy and
  // no frame's home copy); its messages are accepted again. Frames lost when
  // it died stay lost. REQUIRES on_node_down(node) before (a rejoin the
  // daemon sees without a death in between: call both).
  virtual void on_node_up(NodeId node, Actions* out) = 0;
  virtual bool node_is_down(NodeId node) const = 0;

  virtual FrameView view(FrameId frame) const = 0;
  // The frame's home as this node knows it: the placement's, or with
  // first-touch the home learned from the frame's arbiter (kNoNode while
  // this node has not learned it).
  virtual NodeId home_of(FrameId frame) const = 0;
  // One line of everything this node knows about `frame` (debugging, the
  // mconsole `frame` command, failure reports of the model check).
  virtual std::string describe(FrameId frame) const = 0;
  virtual const ProtocolStats& stats() const = 0;
};

// "msi-home" (the default) or "ivy-dynamic". Errors: an unknown name (the
// message lists the known ones), or a config that does not fit (no
// placement, self >= node_count, more than kMaxNodes nodes).
base::StatusOr<std::unique_ptr<Protocol>> make_protocol(std::string_view name,
                                                        const ProtocolConfig& config);

// Names make_protocol() accepts, the default first.
std::array<std::string_view, 2> protocol_names();

}  // namespace dsm::protocol
