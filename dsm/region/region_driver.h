#pragma once
// The driver of one Region on one node: it is the fault engine's
// PageProvider, the transport's `coherence` handler and the protocol's
// executor. Every event (a fault's fetch, an eviction, a received message,
// a retry timer) becomes one call on the protocol under mu_, and the actions
// that call returns are carried out in order before mu_ is released, which
// is the protocol's ordering rule (dsm/protocol/protocol.h) in its simplest
// form: one instance, one mutex, no sharding.
//
// Action -> mechanism:
//   Send          transport.send (one-way, no transport retries), page
//                 copied by the transport before send() returns; inside a
//                 batch (fetch_many, a received run) the sends are queued
//                 and leave as runs (transport.send_pages) at its end
//   Install       the pending fetch's `done` when one waits for this access
//                 (the engine installs with UFFDIO_COPY and wakes), else
//                 FaultEngine::install (a page nobody faulted for). When the
//                 node's budget has no room for such a page, the bytes are
//                 parked here, served as the cached copy, and installed when
//                 room frees (timer) or when a local fault asks for them.
//   WriteProtect  FaultEngine::downgrade
//   Drop          a pending eviction's `done` (the engine punches), else
//                 FaultEngine::invalidate
//   Store         memcpy into the home copy
//   Complete      a pending fetch's `done` when no Install answered it
//   Fail          the pending fetch's `done` with kFrameLostErrno (the
//                 engine poisons the page: SIGBUS for the faulting threads)
//   ArmTimer      the timer thread calls on_timeout after the frame's
//                 timeout (below), unless the timer was disarmed: when a
//                 fetch or eviction is answered and the protocol's view of
//                 the frame shows nothing outstanding (no request pending,
//                 not busy), its timer is dropped, since on_timeout would be
//                 a no-op (both protocols retry only a pending request or a
//                 busy round).
//
// Retry timeouts (retry_timing.h): a timer armed after sends to peers P
// runs for the largest RttEstimator::rto() of those peers (at least
// RegionConfig::retry_interval), doubled for each time this frame's timer
// already fired without an answer (at most retry_max); the doubling is
// reset when the frame has nothing outstanding. RTT samples: the time from
// a call's first send for a frame (a request, a recall, an invalidation, a
// write-back) to the next message from that peer about that frame, unless
// the frame's timer fired in between (Karn's rule: a re-sent message's
// answer may answer either copy). Every such answer is a sample, not one a
// round trip as in TCP: the answers to a read-ahead batch come back as a
// stream whose delay grows with the queue, and SRTT following the latest
// of them keeps deep windows free of retries (768 MiB scan, window 1024:
// 0-713 retries a run; timing one request a round trip let the queue
// outgrow the estimate between samples: 3.5-8 k retries, 2-3x slower).
// A fetch whose timer fires is not re-sent but waits another (doubled)
// timeout when it is queued rather than lost: its peer is answering (a
// message from it arrived since the fetch was sent, and within the last
// retry_interval / 4), and an older fetch to that peer is still unanswered
// (answers come back in about the order asked, as from a deep read-ahead
// window); at most kMaxDeferShift times in a row, so a message lost while
// its peer is busy is still re-sent.
//
// Threads that enter: the engine's handler threads and make_present()
// callers (fetch), its evictor (evict), the transport's progress thread
// (on_incoming), the timer thread (on_timeout). None of them blocks here
// except on mu_; an eviction waiting for its write-back acknowledgement
// keeps its `done` in evicts_ and returns.
//
// Lock order: gate_->mu (the transport handler's way in; held during a
// handler call so close() can wait for it) -> mu_ -> the engine's stripe
// locks (inside its install/invalidate/downgrade/read_page and `done`) ->
// the transport's locks (inside send) ; mu_ -> timer_mu_ (leaf).
// The engine calls fetch/evict with none of its locks held and never from
// inside those calls, so holding mu_ around them is safe.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <set>
#include <span>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/thread_annotations.h"
#include "dsm/fault/fault_engine.h"
#include "dsm/fault/page_provider.h"
#include "dsm/protocol/protocol.h"
#include "dsm/region/region.h"
#include "dsm/region/region_stats.h"
#include "dsm/region/retry_timing.h"
#include "rpc/transport.h"

namespace dsm {

class Driver final : public PageProvider {
 public:
  // `home` maps the home copies (frames * 4096 bytes), owned by the caller.
  Driver(const RegionConfig& config, std::unique_ptr<protocol::Protocol> protocol,
         rpc::Transport& transport, std::byte* home);
  ~Driver() override;

  // Takes the transport's coherence handler and starts the timer thread.
  void start(FaultEngine* engine);
  // Stops taking events: releases the handler (waiting for a running call),
  // stops the timer thread, and fails every fetch and eviction still waiting
  // so the engine can be destroyed. Idempotent.
  void close();

  // PageProvider.
  void fetch(const FetchRequest& request, FetchDone done) override;
  // The requests' messages leave as runs (one frame per destination and
  // kMaxRunPages), so a read-ahead window costs a few round trips.
  void fetch_many(std::span<const FetchRequest> requests, std::span<FetchDone> dones) override;
  void evict(uint64_t frame, const std::byte* dirty, EvictDone done) override;

  void on_incoming(const rpc::Incoming& in);
  // Membership: `node` died / came back as a new incarnation
  // (Protocol::on_node_down / on_node_up, their actions carried out).
  void node_down(uint16_t node);
  void node_up(uint16_t node);
  // Region::reset: `fresh` replaces the protocol; every copy the engine
  // holds is dropped, the home copies zeroed, waiting fetches and
  // evictions end (ECANCELED; an eviction as done: nothing to write back).
  void reset(std::unique_ptr<protocol::Protocol> fresh);

  protocol::ProtocolStats protocol_stats() const;
  DriverCounters counters() const { return counters_.snapshot(); }
  std::string describe(uint64_t frame) const;

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr protocol::NodeId kNoPeer = protocol::kNoNode;
  struct Fetch {
    protocol::Access access = protocol::Access::kRead;
    bool have_copy = false;
    uint64_t protocol_ns = 0;
    FetchDone done;
    // The peer its first request went to (kNoPeer: answered locally), when,
    // and its place among the fetches outstanding to that peer.
    protocol::NodeId peer = kNoPeer;
    Clock::time_point sent{};
    uint64_t seq = 0;
  };
  struct Gate {
    std::mutex mu;
    Driver* driver = nullptr;
  };

  // A message held back while a batch (fetch_many, a received run) runs.
  struct Outgoing {
    protocol::Message msg;
    const std::byte* page;        // valid until the batch is flushed
    std::vector<std::byte> copy;  // the page, when its source was transient
  };
  void fetch_locked(const FetchRequest& request, FetchDone done) REQUIRES(mu_);
  void on_incoming_run(const rpc::Incoming& in);
  // Sends `batch` as runs (per destination, in order) and clears it.
  void flush(std::vector<Outgoing>& batch) REQUIRES(mu_);
  void send_run(std::span<const protocol::Message> msgs, std::span<const std::byte* const> pages)
      REQUIRES(mu_);
  void send_now(const protocol::Message& msg, const std::byte* page) REQUIRES(mu_);
  // Carries out `out` in order. `incoming` is the received page (or null);
  // `call_ns` the protocol time of the call, charged to fetches it answers.
  void run(const protocol::Actions& out, const std::byte* incoming, uint64_t call_ns) REQUIRES(mu_);
  void send(const protocol::Action& a, const std::byte* incoming) REQUIRES(mu_);
  void install(const protocol::Action& a, const std::byte* incoming, uint64_t call_ns)
      REQUIRES(mu_);
  void complete(uint64_t frame, protocol::Access access, uint64_t call_ns) REQUIRES(mu_);
  void drop(uint64_t frame) REQUIRES(mu_);
  // kFail: the fetch waiting for `frame` (if any) fails with kFrameLostErrno.
  void fail(uint64_t frame) REQUIRES(mu_);
  void answer(uint64_t frame, Fetch& f, const std::byte* page, bool writable, uint64_t call_ns)
      REQUIRES(mu_);
  // The 4 KiB a PageSource names, or null (counted) when there is none.
  // kCache copies into `scratch`.
  const std::byte* page_of(protocol::PageSource source, uint64_t frame, const std::byte* incoming,
                           std::byte* scratch) REQUIRES(mu_);
  // kArmTimer{frame}: the timeout of the peers `out` sends to for `frame`.
  void arm(uint64_t frame, const protocol::Actions& out) REQUIRES(mu_);
  // False when the frame's timer is armed already (one a frame).
  bool arm_after(uint64_t frame, Clock::duration timeout);
  // Drops `frame`'s timer when the protocol has nothing outstanding for it.
  void disarm_if_idle(uint64_t frame) REQUIRES(mu_);
  void timer_loop();
  // A due timer: defers it (a queued fetch) or runs on_timeout.
  void fire(uint64_t frame, protocol::Actions& out) REQUIRES(mu_);
  // `f` leaves fetches_: out of its peer's outstanding set.
  void forget_fetch(const Fetch& f) REQUIRES(mu_);
  // A message about `frame` arrived from `from`: last_heard_, an RTT sample.
  void heard(protocol::NodeId from, uint64_t frame) REQUIRES(mu_);
  // Tries to install parked pages again. REQUIRES mu_.
  void unpark() REQUIRES(mu_);

  const RegionConfig config_;
  rpc::Transport& transport_;
  std::byte* const home_;
  FaultEngine* engine_ = nullptr;  // set by start()
  std::shared_ptr<Gate> gate_;

  mutable std::mutex mu_;
  std::unique_ptr<protocol::Protocol> protocol_ GUARDED_BY(mu_);
  // The counters of the protocols reset() replaced: the region's statistics
  // keep counting across a new guest.
  protocol::ProtocolStats earlier_stats_ GUARDED_BY(mu_);
  std::unordered_map<uint64_t, Fetch> fetches_ GUARDED_BY(mu_);
  std::unordered_map<uint64_t, EvictDone> evicts_ GUARDED_BY(mu_);
  bool closed_ GUARDED_BY(mu_) = false;
  // The pages of the received run being handled: answers from them may be
  // installed at the run's end (Supply::page_lasts).
  std::pair<const std::byte*, const std::byte*> run_pages_ GUARDED_BY(mu_){};
  // Set while a batch runs: send() queues here instead of sending.
  std::vector<Outgoing>* batch_ GUARDED_BY(mu_) = nullptr;
  struct Parked {
    std::vector<std::byte> bytes;
    bool writable = false;
  };
  // Pages the protocol installed that found no room in the budget.
  std::unordered_map<uint64_t, Parked> parked_ GUARDED_BY(mu_);
  Clock::time_point next_unpark_ GUARDED_BY(timer_mu_){};

  // Per peer: the RTT estimate, when a message from it last arrived, and
  // the seqs of the fetches outstanding to it (their requests went there).
  std::vector<RttEstimator> rtt_ GUARDED_BY(mu_);
  std::vector<Clock::time_point> last_heard_ GUARDED_BY(mu_);
  std::vector<std::set<uint64_t>> outstanding_ GUARDED_BY(mu_);
  uint64_t next_seq_ GUARDED_BY(mu_) = 1;
  // Per frame: how many times its timer fired without an answer since the
  // frame last had nothing outstanding (the backoff shift), and the peer
  // and time of the send an answer would be the RTT sample of (kNoPeer:
  // none, or re-sent).
  std::vector<uint8_t> fired_ GUARDED_BY(mu_);
  std::vector<protocol::NodeId> asked_peer_ GUARDED_BY(mu_);
  std::vector<Clock::time_point> asked_at_ GUARDED_BY(mu_);

  std::mutex timer_mu_;
  std::condition_variable timer_cv_;
  // Timeouts differ (per peer, per backoff), so the timer queue is a
  // min-heap on the deadline. A disarmed timer stays in it until it reaches
  // the top and is skipped there (its gen is no longer the frame's armed_
  // entry), which costs no mu_.
  struct Timer {
    Clock::time_point due;
    uint64_t frame;
    uint32_t gen;
    bool operator>(const Timer& o) const { return due > o.due; }
  };
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_ GUARDED_BY(timer_mu_);
  // Per frame: the gen of its live timer, 0 for none (one timer a frame).
  std::vector<uint32_t> armed_ GUARDED_BY(timer_mu_);
  uint32_t next_gen_ GUARDED_BY(timer_mu_) = 0;
  // When the timer thread sleeps: the time it wakes by itself; min() while
  // it runs (it looks at timers_ before sleeping again).
  Clock::time_point timer_sleep_until_ GUARDED_BY(timer_mu_) = Clock::time_point::min();
  bool timer_stop_ GUARDED_BY(timer_mu_) = false;
  std::thread timer_thread_;

  AtomicDriverCounters counters_;
};

}  // namespace dsm
