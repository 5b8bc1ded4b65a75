#pragma once
// The userfaultfd fault engine: this node's frames in a memfd, every mapping of
// it registered with userfaultfd (MISSING | WP), misses and write upgrades
// served through a PageProvider, a per-node budget kept by a background
// evictor, and adaptive read-ahead. docs/dsm-fault-engine.md explains the
// kernel behaviour it relies on and the request life cycle.
//
// Frame states on this node: Absent (hole in the memfd), Shared (present,
// write-protected in every mapping), Writable (present; mappings are
// unprotected eagerly for the faulting ones and lazily for the rest).
// Invariant: a frame that is not Writable is write-protected (pte bit or pte
// marker) in every registered mapping, so no write can slip past the engine.
// attach() protects a whole new range; downgrade/invalidate/evict protect
// before they punch, and the kernel keeps the markers across the punch.
//
// Threads:
//  - handler pool (options.handler_threads): epoll over every uffd (one-shot,
//    re-armed after each batch read) and an eventfd for misses handed a slot
//    by release_slot(); reads fault events in batches, never waits for a
//    provider;
//  - provider completions: on whatever thread the provider calls `done`;
//  - evictor (when a budget is set): picks victims, writes back, punches;
//  - callers of the public methods (any thread); make_present() blocks.
// Lock order: Stripe::mu (one per frame stripe; several at once only in
//   ascending stripe index, each once, by install_run and the evictor's
//   finish_evictions) -> attach_mu_ (shared) ->
//   clock_mu_ / room_mu_ / ra_mu_ / ready_mu_ (leaves). A handler holds attach_mu_ shared while it
//   reads a uffd, so detach() or detach_all() returning means the fd is no longer read.
// No lock is held while calling the provider, and the provider is called only
// from handler threads, the evictor and make_present()/resolve_fault(): never
// from invalidate/downgrade/read_page/install or from inside a provider's
// `done`, so a protocol may hold its own locks around those.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "base/thread_annotations.h"
#include "base/unique_fd.h"
#include "dsm/fault/fault_stats.h"
#include "dsm/fault/page_provider.h"
#include "dsm/fault/read_ahead.h"
#include "dsm/frame_store.h"

namespace dsm {

struct FaultEngineOptions {
  uint64_t frames = 0;
  // Most frames resident on this node at once; 0 = no budget, no evictor.
  uint64_t budget_frames = 0;
  // The evictor wakes at high * budget resident and drops down to low * budget.
  double high_watermark = 0.9;
  double low_watermark = 0.75;
  int handler_threads = 2;
  int batch = 16;  // uffd_msg read per read(), at most 64
  // Largest read-ahead window in frames; 0 disables read-ahead.
  uint32_t read_ahead_max = 64;
  // Clock sampling of Writable frames: the hand write-protects a Writable
  // frame and spares it once; a write re-fault marks it referenced again.
  bool write_sampling = true;
};

class FaultEngine final : public FrameStore {
 public:
  // `provider` must outlive the engine.
  static base::StatusOr<std::unique_ptr<FaultEngine>> Create(const FaultEngineOptions& options,
                                                             PageProvider* provider);
  ~FaultEngine() override;

  // FrameStore.
  int memfd() const override { return memfd_.get(); }
  uint64_t frame_count() const override { return options_.frames; }
  base::Status make_present(uint64_t first, uint64_t count, Access access) override;
  // `uffd` may be fresh (the engine does UFFDIO_API) or already initialised by
  // its creator with at least uffd::kShmemFeatures (and maybe SIGBUS). The
  // caller keeps it open until detach().
  base::Status attach(int uffd, uint64_t addr, uint64_t first, uint64_t count) override;
  // Unregisters the detached pages; attachments partly inside are split.
  void detach(int uffd, uint64_t addr, uint64_t count) override;
  // Unregisters every attachment of `uffd`, takes it out of the epoll set
  // and drops its generation: waiters queued on it are never woken, and a
  // later uffd with the same number starts a fresh generation. Returns once
  // no handler reads the fd any more (as detach() does).
  void detach_all(int uffd) override;
  // The engine's own mapping: faults there are served like any other.
  std::byte* mapping() const override { return base_; }
  // For a SIGBUS-mode uffd. A fault on a frame already present here is taken
  // as a write whatever `access` says (reads of present pages do not fault),
  // so a caller that cannot tell may pass kRead; a write miss passed as kRead
  // costs one more SIGBUS (the upgrade).
  base::Status resolve_fault(int uffd, uint64_t addr, Access access) override;

  // The protocol's side.
  // Drops the local copy: protect, punch; the next touch faults MISSING.
  base::Status invalidate(uint64_t frame);
  // Writable -> Shared: write-protects the frame in every mapping.
  base::Status downgrade(uint64_t frame);
  // Copies the local copy out (without faulting); fails if Absent.
  base::Status read_page(uint64_t frame, std::span<std::byte> out) const;
  // Installs a page the protocol received unasked (or replaces the local
  // copy's data), and wakes anyone waiting for it.
  base::Status install(uint64_t frame, const std::byte* data, bool writable);

  // Install batches, for a provider that receives pages in runs. Between
  // open_batch() and close_batch() on one thread, answers given on that
  // thread with Supply::page_lasts are held; close_batch() installs them,
  // one UFFDIO_COPY (and one wake-up) for each run of consecutive frames
  // whose pages lie back to back in memory. Any other engine call that
  // touches frames (invalidate, downgrade, read_page, install) installs
  // what is held first, so the provider sees its calls in order; on another
  // thread such a call on a held frame waits until the batch installed it.
  // So a provider may give its answers under its own lock and close the
  // batch after releasing it (the copies then run outside that lock), as
  // long as close_batch() never waits for that lock. Batches do not nest (a
  // second open_batch is a no-op); close_batch() without open_batch() does
  // nothing.
  void open_batch();
  void close_batch();

  // The engine's own mapping of the whole memfd (registered like any other).
  std::byte* base() const { return base_; }
  // Attachments held now (tests).
  size_t attachment_count() const;
  uint64_t resident() const { return resident_.load(std::memory_order_relaxed); }
  FaultStatsSnapshot stats() const;

 private:
  enum class State : uint8_t { kAbsent, kShared, kWritable };
  struct Frame {
    State state = State::kAbsent;
    bool referenced = false;
    bool dirty = false;    // writable since installed: write back on eviction
    bool soft_wp = false;  // Writable but write-protected by the clock hand
    bool in_clock = false;
    bool staged = false;  // read-ahead data held in Stripe::staged, not yet in the memfd
    // An answer for it is held by an install batch on some thread; frame
    // operations from other threads wait for it (wait_unheld).
    bool held = false;
  };
  struct Waiter {
    int uffd;  // a thread blocked in a fault on this uffd at addr
    uint64_t addr;
    // The uffd's attach generation when the fault was read (0: the engine's
    // own). A waiter whose uffd was detached meanwhile is not woken: its fd
    // number may already name a newer client's userfaultfd.
    uint32_t gen = 0;
  };
  // What a make_present() caller waits for: the request it joined finishing.
  struct Outcome {
    bool done = false;
    base::Status status;
  };
  struct Request {
    Access want = Access::kRead;
    bool dispatched = false;
    bool evicting = false;
    bool read_ahead = false;
    bool trigger = false;  // the read-ahead whose use fetches the next window
    bool counted_hit = false;
    bool has_slot = false;
    std::vector<Waiter> waiters;
    uint64_t started_ns = 0;
    uint64_t uffd_ns = 0;
    std::shared_ptr<Outcome> outcome;  // set when a make_present() caller waits
  };
  struct Stripe {
    std::mutex mu;
    std::condition_variable cv;
    std::unordered_map<uint64_t, Request> requests GUARDED_BY(mu);
    // Trigger pages of read-ahead windows: kept out of the memfd so that the
    // reader's arrival faults (locally) and starts the next window, as
    // Linux's PG_readahead mark does. Each holds a budget slot.
    std::unordered_map<uint64_t, std::vector<std::byte>> staged GUARDED_BY(mu);
    int unheld_waiters GUARDED_BY(mu) = 0;  // threads in wait_unheld
  };
  struct Attachment {
    int uffd;
    uint64_t addr;
    uint64_t first;
    uint64_t count;
  };
  static constexpr int kStripes = 64;
  static constexpr int kMaxBatch = 64;  // uffd_msg read at once, at most

  FaultEngine(const FaultEngineOptions& options, PageProvider* provider);
  base::Status init();

  Stripe& stripe(uint64_t frame) { return stripes_[frame % kStripes]; }
  uint64_t own_addr(uint64_t frame) const {
    return reinterpret_cast<uint64_t>(base_) + frame * 4096;
  }
  static bool satisfies(const Frame& f, Access access) {
    return access == Access::kRead ? f.state != State::kAbsent
                                   : f.state == State::kWritable && !f.soft_wp;
  }

  // Fault path (fault_engine.cc).
  void handler_loop();
  void read_events(int uffd);
  void on_fault(int uffd, uint64_t addr, uint64_t flags, uint64_t read_ns);
  bool frame_of(int uffd, uint64_t addr, uint64_t* frame, uint32_t* gen) const;
  // Gives a new request (already in s.requests) a slot if it needs one, or
  // queues it for the evictor. REQUIRES stripe lock.
  // Returns true when the caller must dispatch() after unlocking.
  bool start_request(Stripe& s, uint64_t frame, Request& r) REQUIRES(s.mu);
  void dispatch(uint64_t frame);
  // Several requests in one provider call (fetch_many).
  void dispatch_many(const std::vector<uint64_t>& frames);
  // Marks the frame's request dispatched and describes it; false when there
  // is none or it went already. Takes the stripe lock.
  bool prepare_dispatch(uint64_t frame, FetchRequest* request);
  // The `done` for a dispatched request (counts it in flight).
  FetchDone completion(uint64_t frame);
  void complete(uint64_t frame, base::StatusOr<Supply> supply, uint64_t provider_ns);
  // What a completion leaves to do once the stripe lock is released.
  struct Aftermath {
    bool release = false;        // give a slot back
    std::vector<Waiter> retry;   // wake after the slot is back (failed fetch)
    std::vector<Waiter> poison;  // the frame is lost: SIGBUS (kFrameLostErrno)
    bool demand = false;         // record the latency split
    uint64_t started = 0, uffd_ns = 0, protocol_ns = 0, provider_ns = 0;
  };
  // complete() under the stripe lock. `put_ns` != 0 (or `put` true): the
  // page is already in the memfd, copied by install_run (which woke the
  // own mapping's waiters); `put_ns` is this frame's share of that copy.
  void complete_locked(Stripe& s, uint64_t frame, base::StatusOr<Supply> supply, bool put,
                       uint64_t put_ns, Aftermath* after) REQUIRES(s.mu);
  void settle(Aftermath& after);
  // An answer held by an open batch.
  struct Held {
    uint64_t frame;
    Supply supply;
    uint64_t provider_ns;
  };
  struct Batch {
    FaultEngine* engine = nullptr;
    std::vector<Held> held;
  };
  static thread_local Batch batch_;
  // Installs what this thread's open batch holds (if any).
  void install_held();
  // Answers for consecutive frames whose pages are back to back, same
  // writability, at most kStripes: one UFFDIO_COPY for those that can take it.
  void install_run(std::span<Held> run);
  // Puts page data into the memfd: UFFDIO_COPY into the own mapping for a
  // hole (write-protected unless writable), pwrite over a present page.
  // REQUIRES the frame's stripe lock.
  base::Status put_page(uint64_t frame, const std::byte* page, bool was_absent, bool writable,
                        bool* own_woken);
  // Waits (releasing the stripe lock) while another thread's open batch
  // holds an answer for `frame`.
  void wait_unheld(Stripe& s, std::unique_lock<std::mutex>& lock, uint64_t frame) const;
  // Ends a request: wakes its make_present() waiters. REQUIRES stripe lock.
  static void finish(Stripe& s, Request& r, base::Status status) REQUIRES(s.mu);
  void read_ahead_after(uint64_t frame);
  // Creates a read-ahead request; true when the caller must dispatch it.
  bool issue_read_ahead(uint64_t frame, bool trigger);
  // Installs a staged trigger page (Shared) and wakes nobody. Returns false
  // when the frame is not staged. Sets *release when the staged slot must be
  // given back (install failed). REQUIRES stripe lock.
  bool take_staged(Stripe& s, uint64_t frame, bool* release) REQUIRES(s.mu);
  // Drops a staged page; the caller releases its slot after unlocking.
  static void drop_staged(Stripe& s, uint64_t frame, Frame& f) REQUIRES(s.mu);

  // Page-table operations over every mapping of a frame (fault_engine_ops.cc).
  // REQUIRES the frame's stripe lock.
  // Returns false when some mapping of a live process could not be changed
  // (counted as ioctl_errors); the caller must not rely on the protection.
  bool protect_everywhere(uint64_t frame, bool protect);
  uint64_t wake_waiters(const std::vector<Waiter>& waiters, bool unprotect, bool skip_own);
  // UFFDIO_POISON where each waiter faults (it wakes with SIGBUS); where
  // the kernel refuses, logs the error and wakes it to fault again.
  void poison_waiters(const std::vector<Waiter>& waiters);
  base::Status punch(uint64_t frame);
  void note_resident(uint64_t frame, Frame& f);

  // Budget (fault_engine_evict.cc).
  bool reserve_slot(bool queue_frame, uint64_t frame);
  void release_slot();    // no stripe lock held
  void dispatch_ready();  // on a handler thread
  void kick_evictor();
  void evictor_loop();
  // A frame the evictor took (its request marked evicting).
  struct Victim {
    uint64_t frame = 0;
    bool dirty = false;
    std::vector<std::byte> data;  // when dirty
    base::Status written;         // the provider's answer to evict()
  };
  // Victims taken at once. A scan's victims leave in install order, so a
  // group is mostly one range of consecutive frames: one punch, one TLB
  // shoot-down. (16 made 13-frame punches; a punch costs ~20 us of IPIs on
  // this VM whatever its length, ~1.5 us a page at 64 frames, ~1.2 at 256.)
  static constexpr size_t kEvictGroup = 256;
  // Takes the clock's next victim; false when none can be had now.
  bool pick_victim(Victim* v);
  // Evicts up to `want` frames (written back first, then punched a range
  // of consecutive frames at a time); returns how many left.
  size_t evict_some(size_t want);
  // Punches and settles a group of consecutive victims (any length) under
  // their stripe locks (ascending stripe index, each stripe once). Returns
  // the frames dropped.
  size_t finish_evictions(std::span<Victim> group);

  const FaultEngineOptions options_;
  PageProvider* const provider_;
  uint64_t high_ = 0, low_ = 0;
  base::UniqueFd memfd_;
  base::UniqueFd uffd_;  // the engine's own
  base::UniqueFd epoll_;
  base::UniqueFd stop_event_;
  base::UniqueFd ready_event_;  // ready_ is not empty
  std::byte* base_ = nullptr;
  std::vector<Frame> frames_;  // frames_[f] GUARDED_BY(stripe(f).mu)
  std::unique_ptr<Stripe[]> stripes_;

  mutable std::shared_mutex attach_mu_;
  std::vector<Attachment> attachments_ GUARDED_BY(attach_mu_);
  struct UffdRef {
    int refs = 0;      // attachments using this uffd
    uint32_t gen = 0;  // fresh for every first attach of an fd number
  };
  std::unordered_map<int, UffdRef> uffd_refs_ GUARDED_BY(attach_mu_);
  uint32_t next_gen_ GUARDED_BY(attach_mu_) = 0;

  std::mutex ra_mu_;
  ReadAhead read_ahead_ GUARDED_BY(ra_mu_);

  std::atomic<uint64_t> resident_{0};  // present or reserved frames
  std::atomic<uint64_t> resident_max_{0};
  std::mutex room_mu_;
  std::deque<uint64_t> room_waiters_ GUARDED_BY(room_mu_);  // frames waiting for a slot
  std::atomic<uint64_t> room_waiting_{0};                   // room_waiters_.size()
  // Misses given a slot by release_slot(), dispatched by a handler thread, so
  // that invalidate()/install() and provider callbacks never call the
  // provider themselves (the protocol may hold its own locks around them).
  std::mutex ready_mu_;
  std::vector<uint64_t> ready_ GUARDED_BY(ready_mu_);

  std::mutex clock_mu_;
  std::condition_variable evictor_cv_;
  std::deque<uint64_t> clock_ GUARDED_BY(clock_mu_);  // resident frames, install order
  bool stop_ GUARDED_BY(clock_mu_) = false;

  std::atomic<uint64_t> inflight_{0};  // provider calls not yet answered
  FaultStats stats_;
  std::vector<std::thread> handlers_;
  std::thread evictor_;
};

}  // namespace dsm
