// The fault path: creation, the handler pool, fault events, provider
// completions and read-ahead.

#include "dsm/fault/fault_engine.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <numeric>

#include <spdlog/spdlog.h>

#include "base/bytes.h"
#include "base/thread_name.h"
#include "dsm/fault/uffd.h"

namespace dsm {

namespace {
constexpr uint64_t kPage = base::kPageSize;

uint64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

base::StatusOr<std::unique_ptr<FaultEngine>> FaultEngine::Create(const FaultEngineOptions& options,
                                                                 PageProvider* provider) {
  if (options.frames == 0) return base::Error("fault engine: zero frames", EINVAL);
  if (provider == nullptr) return base::Error("fault engine: no provider", EINVAL);
  if (options.handler_threads < 1 || options.batch < 1) {
    return base::Error("fault engine: need at least one handler thread and batch >= 1", EINVAL);
  }
  if (options.budget_frames != 0 &&
      (options.low_watermark <= 0 || options.low_watermark > options.high_watermark ||
       options.high_watermark > 1)) {
    return base::Error("fault engine: watermarks must satisfy 0 < low <= high <= 1", EINVAL);
  }
  std::unique_ptr<FaultEngine> engine(new FaultEngine(options, provider));
  TRY(engine->init());
  return engine;
}

FaultEngine::FaultEngine(const FaultEngineOptions& options, PageProvider* provider)
    : options_(options), provider_(provider), read_ahead_(options.read_ahead_max) {}

base::Status FaultEngine::init() {
  const uint64_t size = options_.frames * kPage;
  memfd_.reset(::memfd_create("pangaea-frames", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!memfd_.valid()) return base::Error::from_errno("memfd_create");
  if (::ftruncate(memfd_.get(), static_cast<off_t>(size)) != 0) {
    return base::Error::from_errno("ftruncate frames memfd");
  }
  // The memfd is handed to other processes (guest stubs, dsm/client): sealed
  // against resizing, so none of them can make our own mapping SIGBUS.
  if (::fcntl(memfd_.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    return base::Error::from_errno("seal frames memfd");
  }
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd_.get(), 0);
  if (p == MAP_FAILED) return base::Error::from_errno("mmap frames memfd");
  base_ = static_cast<std::byte*>(p);
  uffd_ = TRY(uffd::open(uffd::kShmemFeatures, uffd::kOptionalFeatures));
  TRY(uffd::register_range(uffd_.get(), own_addr(0), size));
  // Every pte starts write-protected (markers), so the invariant holds for
  // the engine's own mapping from the first fault on.
  TRY(uffd::write_protect(uffd_.get(), own_addr(0), size, true));

  frames_.resize(options_.frames);
  stripes_ = std::make_unique<Stripe[]>(kStripes);
  if (options_.budget_frames != 0) {
    const double b = static_cast<double>(options_.budget_frames);
    high_ = std::max<uint64_t>(1, static_cast<uint64_t>(b * options_.high_watermark));
    low_ = std::min(high_, static_cast<uint64_t>(b * options_.low_watermark));
  }

  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  stop_event_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  ready_event_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!epoll_.valid() || !stop_event_.valid() || !ready_event_.valid()) {
    return base::Error::from_errno("epoll/eventfd");
  }
  for (int fd : {stop_event_.get(), ready_event_.get(), uffd_.get()}) {
    epoll_event ev{};
    // One-shot for a uffd: one handler reads a batch, re-arms, then works on
    // it while another handler can take the next batch; level-triggered
    // would wake every idle handler for each event (a herd on 2 cores).
    ev.events = fd == uffd_.get() ? EPOLLIN | EPOLLONESHOT : EPOLLIN;
    ev.data.fd = fd;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
      return base::Error::from_errno("epoll_ctl");
    }
  }
  for (int i = 0; i < options_.handler_threads; ++i) {
    handlers_.emplace_back([this] {
      base::name_this_thread("pg-fault");
      handler_loop();
    });
  }
  if (options_.budget_frames != 0) {
    evictor_ = std::thread([this] {
      base::name_this_thread("pg-evictor");
      evictor_loop();
    });
  }
  return {};
}

FaultEngine::~FaultEngine() {
  {
    std::lock_guard lock(clock_mu_);
    stop_ = true;
  }
  evictor_cv_.notify_all();
  if (evictor_.joinable()) evictor_.join();
  if (stop_event_.valid()) {
    uint64_t one = 1;
    (void)!::write(stop_event_.get(), &one, sizeof one);
  }
  for (auto& t : handlers_) t.join();
  // Provider answers still in flight touch the memfd and uffd: wait for them.
  while (inflight_.load() != 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (base_ != nullptr) {
    if (uffd_.valid())
      (void)uffd::unregister_range(uffd_.get(), own_addr(0), options_.frames * kPage);
    ::munmap(base_, options_.frames * kPage);
  }
}

void FaultEngine::handler_loop() {
  epoll_event events[8];
  for (;;) {
    int n = ::epoll_wait(epoll_.get(), events, 8, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::error("fault engine: epoll_wait: {}", std::strerror(errno));
      return;
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == stop_event_.get()) return;
      if (fd == ready_event_.get()) {
        dispatch_ready();
      } else {
        read_events(fd);
      }
    }
  }
}

void FaultEngine::read_events(int uffd) {
  // Several handlers may read one uffd at once; each read() takes distinct
  // messages, and an empty one (EAGAIN) costs one syscall.
  uffd_msg msgs[kMaxBatch];
  const size_t want = std::min<size_t>(options_.batch, kMaxBatch);
  uint64_t t0, t1;
  ssize_t n;
  {
    // detach() takes this lock exclusively, so once it returns no handler
    // reads the fd any more and its owner may close it.
    std::shared_lock lock(attach_mu_);
    if (uffd != uffd_.get() && uffd_refs_.count(uffd) == 0) return;
    t0 = now_ns();
    n = ::read(uffd, msgs, want * sizeof(uffd_msg));
    t1 = now_ns();
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.fd = uffd;
    (void)::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, uffd, &ev);
  }
  if (n <= 0) return;
  size_t count = static_cast<size_t>(n) / sizeof(uffd_msg);
  FaultStats::bump(stats_.event_reads);
  FaultStats::bump(stats_.events, count);
  uint64_t share = (t1 - t0) / count;
  for (size_t i = 0; i < count; ++i) {
    const uffd_msg& m = msgs[i];
    if (m.event != UFFD_EVENT_PAGEFAULT) continue;  // no other events are requested
    on_fault(uffd, m.arg.pagefault.address & ~(kPage - 1), m.arg.pagefault.flags, share);
  }
}

void FaultEngine::dispatch_ready() {
  uint64_t n;
  (void)!::read(ready_event_.get(), &n, sizeof n);  // EAGAIN: another handler took it
  std::vector<uint64_t> frames;
  {
    std::lock_guard lock(ready_mu_);
    frames.swap(ready_);
  }
  for (uint64_t frame : frames) dispatch(frame);
}

bool FaultEngine::frame_of(int uffd, uint64_t addr, uint64_t* frame, uint32_t* gen) const {
  if (uffd == uffd_.get()) {
    uint64_t start = own_addr(0);
    if (addr < start || addr >= start + options_.frames * kPage) return false;
    *frame = (addr - start) / kPage;
    *gen = 0;
    return true;
  }
  std::shared_lock lock(attach_mu_);
  for (const Attachment& a : attachments_) {
    if (a.uffd == uffd && addr >= a.addr && addr < a.addr + a.count * kPage) {
      *frame = a.first + (addr - a.addr) / kPage;
      *gen = uffd_refs_.at(uffd).gen;
      return true;
    }
  }
  return false;
}

void FaultEngine::on_fault(int uffd, uint64_t addr, uint64_t flags, uint64_t read_ns) {
  uint64_t frame;
  uint32_t gen;
  if (!frame_of(uffd, addr, &frame, &gen)) {
    // A range being detached: let the thread retry rather than hang.
    (void)uffd::wake(uffd, addr, kPage);
    return;
  }
  const Access access = (flags & UFFD_PAGEFAULT_FLAG_WRITE) ? Access::kWrite : Access::kRead;
  const uint64_t started = now_ns() - read_ns;
  Stripe& s = stripe(frame);
  bool need_dispatch = false;
  bool read_miss = false;
  bool trigger = false;  // the reader reached a read-ahead trigger page
  bool release = false;
  {
    std::lock_guard lock(s.mu);
    Frame& f = frames_[frame];
    // A fault on a frame already here is a use the clock can see; a miss is not.
    if (f.state != State::kAbsent) f.referenced = true;
    if (auto it = s.requests.find(frame); it != s.requests.end()) {
      Request& r = it->second;
      r.waiters.push_back({uffd, addr, gen});
      FaultStats::bump(stats_.coalesced);
      if (r.read_ahead && !r.counted_hit) {
        r.counted_hit = true;
        FaultStats::bump(stats_.read_ahead_hits);
      }
      trigger = r.trigger;
      r.trigger = false;
      if (access == Access::kWrite && !r.dispatched) r.want = Access::kWrite;
      goto unlocked;
    }
    if (take_staged(s, frame, &release)) {
      // A staged trigger page: installed now, locally; the next window goes out.
      FaultStats::bump(stats_.read_ahead_hits);
      (void)uffd::wake(uffd, addr, kPage);
      trigger = true;
      goto unlocked;
    }
    if (f.state == State::kWritable || (access == Access::kRead && f.state == State::kShared)) {
      // Valid here already: the page arrived after the fault was queued, or
      // this mapping is still protected from before the frame became
      // Writable (lazy), or the clock hand protected it to sample writes.
      FaultStats::bump(stats_.already_valid);
      if (access == Access::kWrite) {
        if (f.soft_wp) {
          f.soft_wp = false;
          (void)uffd::write_protect(uffd_.get(), own_addr(frame), kPage, false);
        }
        f.dirty = true;
        (void)uffd::write_protect(uffd, addr, kPage, false);  // also wakes
      } else {
        (void)uffd::wake(uffd, addr, kPage);
      }
      goto unlocked;
    }
    if (f.state == State::kAbsent) {
      FaultStats::bump(access == Access::kWrite ? stats_.write_misses : stats_.read_misses);
      read_miss = access == Access::kRead;
    } else {
      FaultStats::bump(stats_.write_upgrades);
    }
    Request& r = s.requests[frame];
    r.want = access;
    r.waiters.push_back({uffd, addr, gen});
    r.started_ns = started;
    r.uffd_ns = read_ns;
    need_dispatch = start_request(s, frame, r);
  }
unlocked:
  if (release) release_slot();
  if (need_dispatch) dispatch(frame);
  if ((read_miss || trigger) && options_.read_ahead_max != 0) read_ahead_after(frame);
}

bool FaultEngine::take_staged(Stripe& s, uint64_t frame, bool* release) {
  Frame& f = frames_[frame];
  if (!f.staged) return false;
  auto it = s.staged.find(frame);
  bool own_woken = false;
  base::Status st = put_page(frame, it->second.data(), /*was_absent=*/true, false, &own_woken);
  drop_staged(s, frame, f);
  if (!st.ok()) {
    *release = true;  // the slot the staged page held
    return false;
  }
  f.state = State::kShared;  // already in the clock, unreferenced, clean
  return true;
}

void FaultEngine::drop_staged(Stripe& s, uint64_t frame, Frame& f) {
  s.staged.erase(frame);
  f.staged = false;
}

bool FaultEngine::start_request(Stripe& s, uint64_t frame, Request& r) {
  (void)s;
  if (frames_[frame].state != State::kAbsent) return true;  // upgrade: no new slot
  if (reserve_slot(/*queue_frame=*/true, frame)) {
    r.has_slot = true;
    return true;
  }
  return false;  // the evictor dispatches it when a slot frees
}

bool FaultEngine::prepare_dispatch(uint64_t frame, FetchRequest* request) {
  Stripe& s = stripe(frame);
  std::lock_guard lock(s.mu);
  auto it = s.requests.find(frame);
  if (it == s.requests.end() || it->second.dispatched) return false;
  Request& r = it->second;
  r.dispatched = true;
  request->frame = frame;
  request->access = r.want;
  request->have_copy = frames_[frame].state != State::kAbsent;
  request->read_ahead = r.read_ahead;
  return true;
}

FetchDone FaultEngine::completion(uint64_t frame) {
  inflight_.fetch_add(1);
  const uint64_t t0 = now_ns();
  return [this, frame, t0](base::StatusOr<Supply> supply) {
    complete(frame, std::move(supply), now_ns() - t0);
    inflight_.fetch_sub(1);
  };
}

void FaultEngine::dispatch(uint64_t frame) {
  FetchRequest request;
  if (!prepare_dispatch(frame, &request)) return;
  provider_->fetch(request, completion(frame));
}

void FaultEngine::dispatch_many(const std::vector<uint64_t>& frames) {
  std::vector<FetchRequest> requests;
  std::vector<FetchDone> dones;
  requests.reserve(frames.size());
  dones.reserve(frames.size());
  for (uint64_t frame : frames) {
    FetchRequest request;
    if (!prepare_dispatch(frame, &request)) continue;
    requests.push_back(request);
    dones.push_back(completion(frame));
  }
  if (requests.size() == 1) {
    provider_->fetch(requests[0], std::move(dones[0]));
  } else if (!requests.empty()) {
    provider_->fetch_many(requests, dones);
  }
}

void FaultEngine::finish(Stripe& s, Request& r, base::Status status) {
  if (r.outcome) {
    r.outcome->done = true;
    r.outcome->status = std::move(status);
    s.cv.notify_all();
  }
}

base::Status FaultEngine::put_page(uint64_t frame, const std::byte* page, bool was_absent,
                                   bool writable, bool* own_woken) {
  if (was_absent) {
    base::Status st = uffd::copy(uffd_.get(), own_addr(frame), page, kPage, !writable);
    if (st.ok()) {
      *own_woken = true;
      return st;
    }
    // EEXIST: a mapping the engine does not serve touched the hole; take the
    // page over below like a present one.
    if (st.error().code() != EEXIST) return st;
  }
  // Replace the data of a page already in the memfd: a file write goes
  // around the page tables, so it cannot fault.
  if (::pwrite(memfd_.get(), page, kPage, static_cast<off_t>(frame * kPage)) !=
      static_cast<ssize_t>(kPage)) {
    return base::Error::from_errno("pwrite frame");
  }
  return {};
}

void FaultEngine::complete(uint64_t frame, base::StatusOr<Supply> supply, uint64_t provider_ns) {
  if (batch_.engine == this && supply.ok() && supply->page != nullptr && supply->page_lasts) {
    Stripe& s = stripe(frame);
    std::lock_guard lock(s.mu);
    frames_[frame].held = true;
    batch_.held.push_back({frame, *supply, provider_ns});
    return;
  }
  Stripe& s = stripe(frame);
  Aftermath after;
  after.provider_ns = provider_ns;
  {
    std::lock_guard lock(s.mu);
    complete_locked(s, frame, std::move(supply), false, 0, &after);
  }
  settle(after);
}

void FaultEngine::complete_locked(Stripe& s, uint64_t frame, base::StatusOr<Supply> supply,
                                  bool put, uint64_t put_ns, Aftermath* after) {
  Frame& f = frames_[frame];
  if (f.held) {
    f.held = false;
    if (s.unheld_waiters != 0) s.cv.notify_all();
  }
  auto it = s.requests.find(frame);
  if (it == s.requests.end()) return;
  Request r = std::move(it->second);
  s.requests.erase(it);
  const bool was_absent = f.state == State::kAbsent;
  after->uffd_ns = r.uffd_ns + put_ns;
  after->started = r.started_ns;
  after->demand = !r.waiters.empty() || r.outcome != nullptr;
  base::Status status;
  if (!supply.ok()) {
    status = supply.error();
  } else if (supply->page == nullptr && was_absent) {
    status = base::Error("provider answered keep-local for a frame not held here", EPROTO);
  } else if (was_absent && !r.has_slot) {
    // Invalidated while an upgrade was in flight: the data needs a slot again.
    if (reserve_slot(/*queue_frame=*/false, frame)) {
      r.has_slot = true;
    } else {
      status = base::Error("no room to install after invalidation", EAGAIN);
    }
  }
  if (status.ok() && !put && r.trigger && was_absent && supply->page != nullptr && !after->demand) {
    // Keep the trigger page out of the memfd: the reader's fault on it is
    // the signal to fetch the next window. It keeps its slot.
    s.staged[frame].assign(supply->page, supply->page + kPage);
    f.staged = true;
    note_resident(frame, f);
    after->demand = false;
    return;
  }
  bool own_woken = put;
  const uint64_t t = now_ns();
  if (status.ok() && supply->page != nullptr && !put) {
    status = put_page(frame, supply->page, was_absent, supply->writable, &own_woken);
  }
  if (!status.ok()) {
    // Not on the fast path: a failing provider makes its threads retry.
    FaultStats::bump(stats_.fetch_errors);
    spdlog::debug("fault engine: frame {}: {}", frame, status.error().message());
    after->release = r.has_slot;
    // Faulting threads fault again and start a new request; wake them
    // once the slot is back, so their retry finds it free. Those of a lost
    // frame get SIGBUS instead.
    if (status.error().code() == kFrameLostErrno && was_absent) {
      after->poison = std::move(r.waiters);
    } else {
      after->retry = std::move(r.waiters);
    }
    finish(s, r, std::move(status));
    return;
  }
  const bool writable = supply->writable;
  after->protocol_ns = supply->protocol_ns;
  if (was_absent) note_resident(frame, f);
  if (writable && !was_absent) {
    (void)uffd::write_protect(uffd_.get(), own_addr(frame), kPage, false);
    own_woken = true;
  }
  f.state = writable ? State::kWritable : State::kShared;
  f.soft_wp = false;
  // New frames start unreferenced (a scan does not push out frames in
  // use); an upgrade is a use.
  f.referenced = !was_absent;
  if (writable) f.dirty = true;
  if (!put) after->uffd_ns += now_ns() - t;
  after->uffd_ns += wake_waiters(r.waiters, writable, own_woken);
  after->release = r.has_slot && !was_absent;  // someone installed it meanwhile
  finish(s, r, {});
}

void FaultEngine::wait_unheld(Stripe& s, std::unique_lock<std::mutex>& lock, uint64_t frame) const {
  if (!frames_[frame].held) return;
  ++s.unheld_waiters;
  s.cv.wait(lock, [&] { return !frames_[frame].held; });
  --s.unheld_waiters;
}

void FaultEngine::settle(Aftermath& a) {
  if (a.release) release_slot();
  if (!a.retry.empty()) wake_waiters(a.retry, false, false);
  if (!a.poison.empty()) poison_waiters(a.poison);
  if (a.demand) {
    const uint64_t total = now_ns() - a.started;
    const uint64_t protocol_ns = std::min(a.protocol_ns, a.provider_ns);
    stats_.total_ns.record(total);
    stats_.uffd_ns.record(a.uffd_ns);
    stats_.network_ns.record(a.provider_ns - protocol_ns);
    stats_.protocol_ns.record(protocol_ns);
    stats_.engine_ns.record(total > a.uffd_ns + a.provider_ns ? total - a.uffd_ns - a.provider_ns
                                                              : 0);
  }
}

thread_local FaultEngine::Batch FaultEngine::batch_;

void FaultEngine::open_batch() {
  if (batch_.engine == nullptr) batch_.engine = this;
}

void FaultEngine::close_batch() {
  if (batch_.engine != this) return;
  install_held();
  batch_.engine = nullptr;
}

void FaultEngine::install_held() {
  if (batch_.engine != this || batch_.held.empty()) return;
  std::vector<Held> held = std::move(batch_.held);
  batch_.held.clear();
  std::sort(held.begin(), held.end(),
            [](const Held& a, const Held& b) { return a.frame < b.frame; });
  size_t i = 0;
  while (i < held.size()) {
    size_t j = i + 1;
    while (j < held.size() && j - i < kStripes && held[j].frame == held[j - 1].frame + 1 &&
           held[j].supply.page == held[j - 1].supply.page + kPage &&
           held[j].supply.writable == held[i].supply.writable) {
      ++j;
    }
    install_run(std::span<Held>(held.data() + i, j - i));
    i = j;
  }
}

void FaultEngine::install_run(std::span<Held> run) {
  if (run.size() == 1) {
    Held& h = run[0];
    h.supply.page_lasts = false;  // installed now
    complete(h.frame, h.supply, h.provider_ns);
    return;
  }
  // The frames of a run lie in distinct stripes (at most kStripes of them):
  // lock them all, in ascending stripe index (the lock order), so that no
  // frame changes between the checks and the copy.
  std::vector<size_t> order(run.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return run[a].frame % kStripes < run[b].frame % kStripes; });
  std::vector<std::unique_lock<std::mutex>> locks;
  locks.reserve(run.size());
  for (size_t k : order) locks.emplace_back(stripe(run[k].frame).mu);

  // Which answers can go in by the one copy: a demand or read-ahead fetch of
  // an absent frame that holds its slot and is not a trigger to be staged.
  std::vector<bool> plain(run.size(), false);
  for (size_t k = 0; k < run.size(); ++k) {
    const uint64_t frame = run[k].frame;
    Stripe& s = stripe(frame);
    auto it = s.requests.find(frame);
    if (it == s.requests.end()) continue;
    const Request& r = it->second;
    const Frame& f = frames_[frame];
    const bool demand = !r.waiters.empty() || r.outcome != nullptr;
    plain[k] = f.state == State::kAbsent && !f.staged && r.has_slot && !r.evicting &&
               !(r.trigger && !demand);
  }
  std::vector<uint64_t> put_ns(run.size(), 0);
  std::vector<bool> put(run.size(), false);
  for (size_t k = 0; k < run.size();) {
    if (!plain[k]) {
      ++k;
      continue;
    }
    size_t e = k + 1;
    while (e < run.size() && plain[e]) ++e;
    if (e - k >= 2) {
      const uint64_t t = now_ns();
      uint64_t copied = 0;
      (void)uffd::copy(uffd_.get(), own_addr(run[k].frame), run[k].supply.page, (e - k) * kPage,
                       !run[k].supply.writable, true, &copied);
      const uint64_t pages = copied / kPage;
      const uint64_t share = pages == 0 ? 0 : (now_ns() - t) / pages;
      for (size_t m = k; m < k + pages; ++m) {
        put[m] = true;
        put_ns[m] = share;
      }
      FaultStats::bump(stats_.run_copies);
      FaultStats::bump(stats_.run_copy_pages, pages);
    }
    k = e;
  }
  std::vector<Aftermath> afters(run.size());
  for (size_t k = 0; k < run.size(); ++k) {
    Held& h = run[k];
    afters[k].provider_ns = h.provider_ns;
    h.supply.page_lasts = false;
    // The ones the copy did not take (EEXIST, or not plain) go one by one.
    complete_locked(stripe(h.frame), h.frame, h.supply, put[k], put_ns[k], &afters[k]);
  }
  locks.clear();
  for (Aftermath& a : afters) settle(a);
}

void FaultEngine::read_ahead_after(uint64_t frame) {
  ReadAhead::Decision d;
  // Read-ahead never pushes the evictor: it stops at the high watermark.
  const bool room = options_.budget_frames == 0 || resident_.load() + 1 < high_;
  {
    std::lock_guard lock(ra_mu_);
    d = read_ahead_.on_miss(frame, options_.frames, room);
  }
  if (d.hits != 0) FaultStats::bump(stats_.read_ahead_hits, d.hits);
  // The window's first page is its trigger: reaching it starts the next one,
  // a whole window ahead of the reader. The window goes to the provider in
  // one call, so it can ask for it in a few messages (runs). (A trigger in
  // the middle was tried: it split each run's copy in two and showed no
  // gain in docs/PERFORMANCE.md's runs.)
  std::vector<uint64_t> issued;
  issued.reserve(d.count);
  for (uint64_t f = d.first; f < d.first + d.count; ++f) {
    if (issue_read_ahead(f, f == d.first)) issued.push_back(f);
  }
  dispatch_many(issued);
}

bool FaultEngine::issue_read_ahead(uint64_t frame, bool trigger) {
  // Read-ahead never pushes the evictor: it stops at the high watermark.
  if (options_.budget_frames != 0 && resident_.load() + 1 >= high_) return false;
  Stripe& s = stripe(frame);
  {
    std::lock_guard lock(s.mu);
    const Frame& f = frames_[frame];
    if (f.state != State::kAbsent || f.staged || s.requests.count(frame) != 0) return false;
    if (!reserve_slot(/*queue_frame=*/false, frame)) return false;
    Request& r = s.requests[frame];
    r.want = Access::kRead;
    r.read_ahead = true;
    r.trigger = trigger;
    r.has_slot = true;
    r.started_ns = now_ns();
  }
  FaultStats::bump(stats_.read_ahead_issued);
  return true;
}

FaultStatsSnapshot FaultEngine::stats() const {
  FaultStatsSnapshot s = stats_.snapshot();
  s.resident = resident_.load();
  s.resident_max = resident_max_.load();
  return s;
}

}  // namespace dsm
