#pragma once
// Transport: how the DSM and membership talk to the other nodes (DESIGN.md,
// "Transport"). A message is a Cap'n Proto header (rpc/schema/dsm.capnp) plus
// at most one 4 KiB page. Implementations: FabricTransport (libfabric),
// LoopbackNetwork's transports (in-process, optionally fault-injecting).
//
// Every peer authenticates (rpc/PROTOCOL.md) before anything it sends is
// delivered; the transport runs the handshake itself, so callers simply send.
// Messages to a peer that is not authenticated yet wait (a bounded queue for
// one-way messages, the pending table for requests) until the handshake ends.
//
// Threads: handlers and completion callbacks run on the transport's own
// progress thread, one at a time; they may call send/request/respond but must
// not block for long. The other methods are thread-safe.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

#include "base/result.h"
#include "rpc/schema/dsm.capnp.h"
#include "rpc/wire.h"

namespace rpc {

// Index of a node in ClusterConfig.nodes.
using NodeId = int;

using BodyKind = schema::Message::Body::Which;

// A received message. Valid only during the callback it is passed to: `page`
// points into the transport's registered receive buffer (no copy was made);
// copy it out (or UFFDIO_COPY it) before returning.
struct Incoming {
  NodeId from = -1;
  schema::Message::Reader header;
  const std::byte* page = nullptr;  // page_count * base::kPageSize bytes, or null
  // 1 when `page` is set by an ordinary send; a run (send_pages) carries
  // up to kMaxRunPages pages, contiguous at `page`.
  size_t page_count = 0;
};

struct RequestOptions {
  std::chrono::milliseconds timeout{500};  // for each attempt
  int retries = 2;                         // attempts after the first
};

// What a transport refused or lost, in total or for one peer.
struct Counters {
  uint64_t sent = 0;
  uint64_t received = 0;                  // delivered to a handler or a request
  uint64_t rejected_malformed = 0;        // bad framing or Cap'n Proto
  uint64_t rejected_unauthenticated = 0;  // no session, or a wrong auth tag
  uint64_t rejected_stale = 0;            // right tag, previous incarnation
  uint64_t auth_failures = 0;             // a handshake proof that did not verify
  uint64_t unexpected = 0;                // no handler, or a response nobody awaits
  uint64_t send_errors = 0;               // the fabric reported a failed send
  uint64_t queue_drops = 0;               // one-way messages dropped while unauthenticated
                                          // (or queued for an incarnation that restarted)
  uint64_t restarts = 0;                  // sessions with a new incarnation of a known peer
  uint64_t fenced = 0;                    // handshakes of an incarnation declared dead, refused
  uint64_t timeouts = 0;                  // requests that ran out of attempts
  uint64_t retries = 0;                   // request attempts after the first
  uint64_t page_copies = 0;               // pages not in registered memory, copied

  uint64_t rejected() const {
    return rejected_malformed + rejected_unauthenticated + rejected_stale + auth_failures;
  }
  Counters& operator+=(const Counters& o);
};

class Transport {
 public:
  using Handler = std::function<void(const Incoming&)>;
  // The response (valid during the call), or why there is none.
  using ResponseFn = std::function<void(base::StatusOr<const Incoming*>)>;
  // The transport no longer needs the page it was given.
  using SentFn = std::function<void()>;

  virtual ~Transport() = default;

  virtual NodeId self() const = 0;
  virtual int size() const = 0;  // number of nodes

  // Which function receives one-way messages and requests whose body is
  // `kind`; null removes it. Messages with no handler are counted as
  // unexpected and dropped.
  virtual void set_handler(BodyKind kind, Handler handler) = 0;

  // One-way message. The transport sets type, sender, epoch and authTag.
  // `page` (or null) must stay unchanged until `sent` runs if it lies in
  // memory given to register_memory(); otherwise it is copied before return.
  virtual base::Status send(NodeId to, OutMessage& message, const std::byte* page = nullptr,
                            SentFn sent = nullptr) = 0;

  // Request: `done` runs exactly once, with the response whose requestId
  // matches, or with an error after 1 + retries attempts timed out (ETIMEDOUT)
  // or the transport closed. A retry resends the same requestId, so a
  // receiver may see a request twice. `page` must stay valid until `done`.
  virtual void request(NodeId to, OutMessage& message, const std::byte* page,
                       RequestOptions options, ResponseFn done) = 0;

  // One-way message carrying a run of pages (2..kMaxRunPages; fewer go
  // through send()), received as one frame whose Incoming has page_count =
  // pages.size(). The pages are copied before return. Errors: EOPNOTSUPP
  // when this transport cannot (the caller sends the pieces apart),
  // EAGAIN when the peer has no session yet or no run buffer is free, and
  // what send() fails with.
  virtual base::Status send_pages(NodeId to, OutMessage& message,
                                  std::span<const std::byte* const> pages) {
    if (pages.size() <= 1) return send(to, message, pages.empty() ? nullptr : pages[0]);
    return base::Error("this transport sends no runs of pages", EOPNOTSUPP);
  }

  // Answers `request` (which must be an Incoming of type request).
  virtual base::Status respond(const Incoming& request, OutMessage& message,
                               const std::byte* page = nullptr, SentFn sent = nullptr) = 0;

  // Pages inside [base, base+len) are sent straight from that memory.
  virtual base::Status register_memory(void* base, size_t len) = 0;

  // Drops the session with `peer`: its messages are refused until a new
  // handshake (which the next send to it starts). Used when a peer went
  // silent, so that its return is re-authenticated.
  virtual void forget_peer(NodeId peer) = 0;
  virtual bool authenticated(NodeId peer) const = 0;

  // What handshakes say about incarnations (processes) of nodes:
  enum class Incarnation : uint8_t {
    // `peer` authenticated with another epoch than its session before: it
    // restarted, and everything it held is gone, even if it was never
    // silent long enough to be missed. What we queued for the old
    // incarnation is dropped.
    kPeerRestarted,
    // `peer` knew an earlier incarnation of this node: this process is the
    // restart (once per process).
    kSelfRestarted,
    // `peer` declared this incarnation dead (declare_dead) and refuses it
    // for good: this process must stop; a new one will be taken (once).
    kSelfDeclaredDead,
  };
  // Runs on the progress thread, without the transport's lock, before any
  // message of the session that told it reaches a handler (or at once, from
  // set_restart_observer, for what was learned before there was an
  // observer). Set it before traffic starts; null removes it.
  using RestartFn = std::function<void(NodeId peer, Incarnation what)>;
  virtual void set_restart_observer(RestartFn observer) = 0;

  // Membership declared `peer` dead and gave up what it held: the session
  // ends, and its incarnation is never authenticated again (its handshakes
  // are refused and it is told: kSelfDeclaredDead there). A new incarnation
  // is taken (kPeerRestarted).
  virtual void declare_dead(NodeId peer) = 0;

  virtual Counters counters() const = 0;
  virtual Counters peer_counters(NodeId peer) const = 0;
};

}  // namespace rpc
