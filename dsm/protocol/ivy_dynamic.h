#pragma once
// ivy-dynamic: Li and Hudak's dynamic distributed manager. There is no
// fixed directory: ownership moves to the last writer, the owner keeps the
// copyset, and every node keeps a probable owner to which it forwards
// requests; the chain of probable owners ends at the owner. A write request
// moves ownership (and the copyset) to the requester, which invalidates the
// copies before it writes. See dsm/PROTOCOLS.md.
//
// Changes from the paper, for a network that drops, duplicates and reorders:
//  - probable owners are updated only from messages that carry a newer
//    ownership epoch (grants, invalidations), never on forwarding, so the
//    chains cannot form cycles when messages are late or repeated;
//  - a node that hands ownership over keeps a read-only copy and a record of
//    the hand-over until the new owner's invalidation reaches it; a
//    requester's retry that reaches it gets the grant again; meanwhile it
//    queues other requests instead of forwarding them;
//  - an unwanted grant (answering a stale duplicate) is refused and the
//    granter takes ownership back;
//  - an evicted owner hands ownership (page and copyset) back to the frame's
//    home, keeping its copy read-only until the home acknowledges. The home
//    (placement) is the first owner of each frame, the owner of last resort:
//    it keeps the bytes of the frames it owns in its home copy (like
//    msi-home's home), so it can evict its cached copies like anyone and
//    never depends on a cached page to serve them.
//  - Shared copies are evicted silently (the owner's copyset is a superset).
//
// Threads: none (see protocol.h).

#include <deque>
#include <unordered_map>
#include <vector>

#include "dsm/protocol/protocol_base.h"

namespace dsm::protocol {

inline constexpr uint8_t kIvyOwner = 1;
inline constexpr uint8_t kIvySent = 2;
inline constexpr uint8_t kIvyBusy = 4;
// Node failure (dsm/PROTOCOLS.md "Node failure"): kIvyStranded: the frame's
// home died while this node owns it: ownership cannot be handed back, so the
// copy is never evicted; kIvyLost: this node cannot reach a live owner: a
// copy it holds stays readable, a write or a miss fails, and requests that
// reach it are answered Lost.
inline constexpr uint8_t kIvyStranded = 8;
inline constexpr uint8_t kIvyLost = 16;

// A node's table entry for one frame (ivy-dynamic): 32 bytes with padding.
struct IvyEntry {
  uint64_t copyset = 0;  // owner: nodes that may hold Shared copies (not self)
  RequestId req = 0;     // the request in flight
  Version version = 0;   // highest ownership epoch seen; copies hold its data
  NodeId prob_owner = kNoNode;
  LocalState state = LocalState::kInvalid;  // an owner in kInvalid holds the zero page
  Access pending = Access::kNone;
  Access want = Access::kNone;
  uint8_t flags = 0;  // kIvyOwner, kIvySent, kIvyBusy, kIvyStranded, kIvyLost

  bool owner() const { return flags & kIvyOwner; }
  bool busy() const { return flags & kIvyBusy; }
};
static_assert(sizeof(IvyEntry) == 32, "the ivy table entry is 32 bytes a frame");

class IvyDynamic final : public ProtocolBase {
 public:
  explicit IvyDynamic(ProtocolConfig config);

  std::string_view name() const override { return "ivy-dynamic"; }
  const IvyEntry& entry(FrameId frame) const { return table_[frame]; }

 protected:
  void fault(FrameId frame, Access access) override;
  void coalesce(FrameId frame, Access access) override;
  base::Status evict(FrameId frame) override;
  base::Status handle(const Message& msg) override;
  void timeout(FrameId frame) override;
  FrameView local_view(FrameId frame) const override;
  std::string describe_local(FrameId frame) const override;
  void home_learned(FrameId frame, NodeId home) override;
  void node_down(NodeId node) override;
  bool frame_lost(FrameId frame) const override {
    return (table_[frame].flags & kIvyLost) && table_[frame].state == LocalState::kInvalid;
  }

 private:
  // What makes a frame busy on this node.
  struct Busy {
    enum class Kind : uint8_t {
      kInval,     // owner: invalidating the copyset before writing
      kHandoff,   // gave ownership to `to` for request `req`; awaits its Inval
      kHandback,  // evicting owner: gave ownership to the home; awaits the ack
    } kind = Kind::kInval;
    NodeId to = kNoNode;
    bool page = false;          // kHandoff: the grant carried a page
    RequestId req = 0;          // kHandoff
    Version version = 0;        // kHandoff: the granted epoch; kHandback: ours
    uint64_t copyset = 0;       // kHandoff/kHandback: the copyset handed over
    uint64_t acks = 0;          // kInval: nodes still to acknowledge
    std::deque<Message> queue;  // requests that arrived meanwhile
  };

  // Where this node's current bytes of `f` are. The home keeps the bytes of
  // every frame it owns in its home copy (Store) whenever its own copy is
  // not Modified, so it serves them from there: its cached copy may be gone
  // (evicted) or not readable yet (a read-ahead page the engine holds
  // staged, which read_page cannot see). Elsewhere an owner's bytes are its
  // cached copy; an untouched frame is the zero page.
  PageSource data_source(FrameId f) const {
    const IvyEntry& e = table_[f];
    if (home_of(f) == self()) {
      return e.state == LocalState::kModified ? PageSource::kCache : PageSource::kHome;
    }
    return e.state == LocalState::kInvalid ? PageSource::kZero : PageSource::kCache;
  }
  Busy& set_busy(FrameId f, Busy::Kind kind);
  void clear_busy(FrameId f);  // and serve what queued
  void send_request(FrameId f);
  void send_deferred(FrameId f);
  void owner_access(FrameId f);  // an owner's own pending access
  void owner_write(FrameId f);
  void finish_write(FrameId f);
  void on_request(const Message& m);
  void serve(const Message& m);
  void send_grant(FrameId f, const Busy& b);
  base::Status on_read_grant(const Message& m);
  base::Status on_write_grant(const Message& m);
  base::Status on_grant_refused(const Message& m);
  base::Status on_inval(const Message& m);
  base::Status on_inval_ack(const Message& m);
  base::Status on_handback(const Message& m);
  base::Status on_handback_ack(const Message& m);
  base::Status on_lost(const Message& m);
  // The frame cannot be had from a live owner any more (ivy_failure.cc).
  void lose_frame(FrameId f);

  std::vector<IvyEntry> table_;
  std::unordered_map<FrameId, Busy> busy_;
  RequestId next_req_ = 1;
};

}  // namespace dsm::protocol
