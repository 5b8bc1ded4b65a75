#pragma once
// TransportBase: everything a transport does above moving frames: header
// encoding, the authentication handshake and session tags (rpc/PROTOCOL.md),
// request/response correlation with timeouts and retries, dispatch to
// handlers, counters. A subclass moves frames (raw_send / on_receive) and
// calls tick() every few milliseconds from its progress thread.
//
// Threads: on_receive() and tick() run on the subclass's single progress
// thread; the public methods may be called from any thread, including from
// handlers. Lock order: mu_, then the subclass's locks inside raw_send
// (raw_send never calls back into this class). Handlers and callbacks run
// without mu_ held.

#include <capnp/message.h>

#include <array>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/thread_annotations.h"
#include "rpc/auth.h"
#include "rpc/transport.h"

namespace rpc {

class TransportBase : public Transport {
 public:
  ~TransportBase() override;

  NodeId self() const override { return self_; }
  int size() const override { return static_cast<int>(names_.size()); }
  void set_handler(BodyKind kind, Handler handler) override;
  base::Status send(NodeId to, OutMessage& message, const std::byte* page = nullptr,
                    SentFn sent = nullptr) override;
  base::Status send_pages(NodeId to, OutMessage& message,
                          std::span<const std::byte* const> pages) override;
  void request(NodeId to, OutMessage& message, const std::byte* page, RequestOptions options,
               ResponseFn done) override;
  base::Status respond(const Incoming& request, OutMessage& message,
                       const std::byte* page = nullptr, SentFn sent = nullptr) override;
  void forget_peer(NodeId peer) override;
  bool authenticated(NodeId peer) const override;
  void set_restart_observer(RestartFn observer) override;
  void declare_dead(NodeId peer) override;
  Counters counters() const override;
  Counters peer_counters(NodeId peer) const override;

  uint64_t epoch() const { return epoch_; }

  // How long a Hello waits for its Challenge before it is sent again.
  static constexpr std::chrono::milliseconds kHelloRetry{250};
  // One-way messages waiting for a handshake are dropped after this.
  static constexpr std::chrono::milliseconds kQueueMaxAge{2000};
  static constexpr size_t kQueueMaxLength = 64;

 protected:
  // `names[i]` is node i's name; `secret` the cluster secret.
  TransportBase(std::vector<std::string> names, NodeId self, auth::Keys keys);

  // Puts one frame on the wire: `page` (or null) then `head` (header and
  // trailer). `head` is copied before return; `page` must stay valid until
  // `sent` runs. Must not call back into TransportBase.
  virtual base::Status raw_send(NodeId to, std::span<const std::byte> head, const std::byte* page,
                                SentFn sent) = 0;
  // Puts one frame carrying a run of pages on the wire: the pages (copied
  // before return) then `head`. Must not call back into TransportBase.
  // Default: EOPNOTSUPP.
  virtual base::Status raw_send_pages(NodeId to, std::span<const std::byte> head,
                                      std::span<const std::byte* const> pages);
  // True if `page` is in memory the fabric can send from directly.
  virtual bool page_registered(const std::byte* page) const = 0;

  // A frame arrived (from the progress thread). REQUIRES: `data` 8-aligned.
  void on_receive(const std::byte* data, size_t len);
  // Timers: request timeouts and retries, handshake retries, queue ageing.
  void tick();
  // Fails every pending request; call once, after the progress thread stopped.
  void close();
  void count_send_error(NodeId to);
  // A frame the fabric could not receive whole (longer than a buffer).
  void count_malformed();

 private:
  using Clock = std::chrono::steady_clock;

  struct Queued {
    kj::Array<capnp::word> flat;
    std::vector<std::byte> page;  // a copy, or empty
    Clock::time_point queued_at;
  };
  struct Pending {
    NodeId to = -1;
    kj::Array<capnp::word> flat;  // the request, to send again
    const std::byte* page = nullptr;
    std::chrono::milliseconds timeout{0};
    int attempts_left = 0;
    int attempts = 0;
    bool sent = false;  // false while waiting for the handshake
    Clock::time_point deadline;
    ResponseFn done;
  };
  struct Peer {
    // The session: messages from the peer must carry tag_in and its epoch.
    bool authed = false;
    uint64_t tag_in = 0;
    uint64_t tag_out = 0;
    uint64_t epoch = 0;
    // The epoch of the last session ever authenticated (kept when the
    // session is forgotten): another one is a restart.
    uint64_t known_epoch = 0;
    // An epoch membership declared dead (declare_dead): refused for good.
    uint64_t dead_epoch = 0;
    // A handshake we started.
    bool initiating = false;
    auth::Nonce my_nonce{};
    Clock::time_point hello_sent;
    // A handshake the peer started, waiting for its Proof.
    bool responding = false;
    auth::Nonce their_nonce{};
    auth::Nonce resp_nonce{};
    uint64_t resp_epoch = 0;
    Clock::time_point resp_started;
    Clock::time_point last_failure_log;
    std::deque<Queued> queue;
    Counters counters;
  };

  bool valid_peer(NodeId id) const { return id >= 0 && id < size() && id != self_; }
  base::Status transmit_locked(NodeId to, capnp::MessageBuilder& message, const std::byte* page,
                               SentFn sent) REQUIRES(mu_);
  base::Status transmit_flat_locked(NodeId to, kj::ArrayPtr<const capnp::word> flat,
                                    const std::byte* page) REQUIRES(mu_);
  void start_handshake_locked(NodeId to, Clock::time_point now) REQUIRES(mu_);
  void send_hello_locked(NodeId to, Clock::time_point now) REQUIRES(mu_);
  void flush_locked(NodeId to) REQUIRES(mu_);
  bool has_demand_locked(NodeId to) const REQUIRES(mu_);
  void dispatch(schema::Message::Reader header, const std::byte* page, size_t page_count);
  void handle_auth(NodeId from, schema::Message::Reader header);
  void on_hello(NodeId from, schema::Message::Reader header) REQUIRES(mu_);
  // The two ends of a handshake; true if the session is with a new
  // incarnation of a peer that had one before (restart_observer_ to call).
  bool on_challenge(NodeId from, schema::Message::Reader header) REQUIRES(mu_);
  bool on_proof(NodeId from, schema::Message::Reader header) REQUIRES(mu_);
  // A session is up with `epoch`: flushes the queue, or drops it if the
  // peer restarted. Returns whether it restarted.
  bool session_up_locked(NodeId from, uint64_t epoch) REQUIRES(mu_);
  // A verified handshake says `by` knew an earlier incarnation of us, or
  // declared this one dead: queued for the observer (once each).
  void told_locked(NodeId by, Incarnation what) REQUIRES(mu_);
  bool declared_dead_locked(NodeId from, uint64_t epoch) const REQUIRES(mu_) {
    const Peer& p = peers_[from];
    return p.dead_epoch != 0 && p.dead_epoch == epoch;
  }
  void auth_failed_locked(NodeId from, const char* why) REQUIRES(mu_);

  const std::vector<std::string> names_;
  const NodeId self_;
  const auth::Keys keys_;
  const uint64_t epoch_;

  mutable std::mutex mu_;
  std::vector<Peer> peers_ GUARDED_BY(mu_);
  Counters unattributed_ GUARDED_BY(mu_);  // frames with no believable sender
  std::unordered_map<uint64_t, Pending> pending_ GUARDED_BY(mu_);
  uint64_t next_request_id_ GUARDED_BY(mu_) = 1;
  static constexpr size_t kMaxHandlers = 64;
  std::array<std::shared_ptr<Handler>, kMaxHandlers> handlers_ GUARDED_BY(mu_);
  std::shared_ptr<RestartFn> restart_observer_ GUARDED_BY(mu_);
  // Learned and not yet reported to the observer (none set yet, or the
  // handshake that learned it is still being handled).
  std::vector<std::pair<NodeId, Incarnation>> events_ GUARDED_BY(mu_);
  bool told_restarted_ GUARDED_BY(mu_) = false;
  bool told_dead_ GUARDED_BY(mu_) = false;
};

}  // namespace rpc
