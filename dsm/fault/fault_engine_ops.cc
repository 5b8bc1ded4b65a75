// The engine's page-table helpers, the FrameStore calls other than faults
// (attach, make_present, resolve_fault) and the protocol's side (invalidate,
// downgrade, read_page, install).

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>

#include "base/bytes.h"
#include "dsm/fault/fault_engine.h"
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

bool FaultEngine::protect_everywhere(uint64_t frame, bool protect) {
  bool ok = true;
  auto check = [&](const base::Status& st) {
    // ESRCH/ENOENT-like failures of a mapping whose process died leave
    // nothing to protect; anything else (ENOMEM for page tables) does.
    if (st.ok() || st.error().code() == ESRCH || st.error().code() == ENOENT) return;
    ok = false;
    if (stats_.ioctl_errors.fetch_add(1) < 8) {
      spdlog::error("fault engine: write-protect frame {}: {}", frame, st.error().message());
    }
  };
  check(uffd::write_protect(uffd_.get(), own_addr(frame), kPage, protect));
  std::shared_lock lock(attach_mu_);
  for (const Attachment& a : attachments_) {
    if (frame >= a.first && frame < a.first + a.count) {
      check(uffd::write_protect(a.uffd, a.addr + (frame - a.first) * kPage, kPage, protect));
    }
  }
  return ok;
}

uint64_t FaultEngine::wake_waiters(const std::vector<Waiter>& waiters, bool unprotect,
                                   bool skip_own) {
  const uint64_t t = now_ns();
  std::vector<Waiter> done;
  // Shared: a detach cannot end (and its fd be closed and reused) mid-loop.
  std::shared_lock lock(attach_mu_);
  for (const Waiter& w : waiters) {
    bool seen = std::any_of(done.begin(), done.end(),
                            [&](const Waiter& d) { return d.uffd == w.uffd && d.addr == w.addr; });
    if (seen || (skip_own && w.uffd == uffd_.get())) continue;
    if (w.uffd != uffd_.get()) {
      auto ref = uffd_refs_.find(w.uffd);
      if (ref == uffd_refs_.end() || ref->second.gen != w.gen) continue;  // detached
    }
    done.push_back(w);
    // Unprotecting wakes the range as well; a mapping of a dead process fails.
    if (unprotect) {
      (void)uffd::write_protect(w.uffd, w.addr, kPage, false);
    } else {
      (void)uffd::wake(w.uffd, w.addr, kPage);
    }
  }
  return now_ns() - t;
}

void FaultEngine::poison_waiters(const std::vector<Waiter>& waiters) {
  std::shared_lock lock(attach_mu_);
  for (const Waiter& w : waiters) {
    if (w.uffd != uffd_.get()) {
      auto ref = uffd_refs_.find(w.uffd);
      if (ref == uffd_refs_.end() || ref->second.gen != w.gen) continue;  // detached
    }
    const uint64_t page = w.addr & ~(kPage - 1);
    base::Status st = uffd::poison(w.uffd, page, kPage);
    if (!st.ok() && st.error().code() == EEXIST) {
      // The hole carries a write-protect marker (every frame not Writable
      // has one), which is not an empty pte: clear it, then poison. Any
      // access there faults for good, so the protection is no longer needed.
      (void)uffd::write_protect(w.uffd, page, kPage, false, /*wake=*/false);
      st = uffd::poison(w.uffd, page, kPage);
    }
    // EEXIST now: poisoned already by another waiter of the same mapping.
    if (st.ok() || st.error().code() == EEXIST) continue;
    // No UFFDIO_POISON (kernel before 6.6, or a uffd without the feature):
    // the thread is woken and faults again, and fails again: it spins
    // instead of reading anything.
    spdlog::error("fault engine: lost frame at {:#x}: {} (the faulting thread spins)", w.addr,
                  st.error().message());
    (void)uffd::wake(w.uffd, w.addr & ~(kPage - 1), kPage);
  }
}

base::Status FaultEngine::punch(uint64_t frame) {
  if (::fallocate(memfd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  static_cast<off_t>(frame * kPage), kPage) != 0) {
    return base::Error::from_errno("fallocate(PUNCH_HOLE)");
  }
  return {};
}

void FaultEngine::note_resident(uint64_t frame, Frame& f) {
  if (options_.budget_frames == 0 || f.in_clock) return;
  f.in_clock = true;
  std::lock_guard lock(clock_mu_);
  clock_.push_back(frame);
}

base::Status FaultEngine::attach(int uffd, uint64_t addr, uint64_t first, uint64_t count) {
  if (addr % kPage != 0 || count == 0 || first >= options_.frames ||
      count > options_.frames - first) {
    return base::Error("attach: bad range", EINVAL);
  }
  TRY(uffd::handshake(uffd, uffd::kShmemFeatures, uffd::kOptionalFeatures));
  {
    // In the table first, so faults that arrive the moment the range is
    // registered find their frame.
    std::unique_lock lock(attach_mu_);
    attachments_.push_back({uffd, addr, first, count});
    UffdRef& ref = uffd_refs_[uffd];
    if (ref.refs++ == 0) {
      ref.gen = ++next_gen_;
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLONESHOT;  // re-armed by read_events()
      ev.data.fd = uffd;
      if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, uffd, &ev) != 0) {
        auto err = base::Error::from_errno("epoll_ctl(uffd)");
        attachments_.pop_back();
        uffd_refs_.erase(uffd);
        return err;
      }
    }
  }
  base::Status st = uffd::register_range(uffd, addr, count * kPage);
  // Protect everything: frames not Writable must be (the invariant); Writable
  // ones are unprotected again lazily by their first write fault.
  if (st.ok()) st = uffd::write_protect(uffd, addr, count * kPage, true);
  if (!st.ok()) detach(uffd, addr, count);
  return st;
}

void FaultEngine::detach(int uffd, uint64_t addr, uint64_t count) {
  const uint64_t end = addr + count * kPage;
  std::unique_lock lock(attach_mu_);
  std::vector<Attachment> kept;
  kept.reserve(attachments_.size() + 1);
  int change = 0;  // in the uffd's attachment count
  bool cut = false;
  for (const Attachment& a : attachments_) {
    const uint64_t a_end = a.addr + a.count * kPage;
    if (a.uffd != uffd || a_end <= addr || a.addr >= end) {
      kept.push_back(a);
      continue;
    }
    const uint64_t lo = std::max(a.addr, addr), hi = std::min(a_end, end);
    (void)uffd::unregister_range(uffd, lo, hi - lo);
    cut = true;
    --change;
    // What lies outside the detached range stays attached.
    if (a.addr < lo) {
      kept.push_back({uffd, a.addr, a.first, (lo - a.addr) / kPage});
      ++change;
    }
    if (hi < a_end) {
      kept.push_back({uffd, hi, a.first + (hi - a.addr) / kPage, (a_end - hi) / kPage});
      ++change;
    }
  }
  if (!cut) return;
  attachments_ = std::move(kept);
  auto ref = uffd_refs_.find(uffd);
  ref->second.refs += change;
  if (ref->second.refs == 0) {
    uffd_refs_.erase(ref);
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, uffd, nullptr);
  }
}

void FaultEngine::detach_all(int uffd) {
  std::unique_lock lock(attach_mu_);
  for (auto it = attachments_.begin(); it != attachments_.end();) {
    if (it->uffd != uffd) {
      ++it;
      continue;
    }
    // Harmless on a range whose process is gone (the kernel says so).
    (void)uffd::unregister_range(uffd, it->addr, it->count * kPage);
    it = attachments_.erase(it);
  }
  if (uffd_refs_.erase(uffd) != 0) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, uffd, nullptr);
}

size_t FaultEngine::attachment_count() const {
  std::shared_lock lock(attach_mu_);
  return attachments_.size();
}

base::Status FaultEngine::make_present(uint64_t first, uint64_t count, Access access) {
  if (first >= options_.frames || count > options_.frames - first) {
    return base::Error("make_present: frames out of range", EINVAL);
  }
  for (uint64_t frame = first; frame < first + count; ++frame) {
    Stripe& s = stripe(frame);
    for (;;) {
      std::shared_ptr<Outcome> outcome;
      bool need_dispatch = false;
      bool release = false;
      {
        std::lock_guard lock(s.mu);
        Frame& f = frames_[frame];
        if (f.state != State::kAbsent) f.referenced = true;
        auto it = s.requests.find(frame);
        if (it == s.requests.end() && take_staged(s, frame, &release)) {
          FaultStats::bump(stats_.read_ahead_hits);
        }
        if (it == s.requests.end()) {
          if (f.state == State::kWritable ||
              (access == Access::kRead && f.state == State::kShared)) {
            if (access == Access::kWrite) {
              f.dirty = true;
              if (f.soft_wp) {
                f.soft_wp = false;
                (void)uffd::write_protect(uffd_.get(), own_addr(frame), kPage, false);
              }
            }
            break;
          }
          if (f.state == State::kAbsent) {
            FaultStats::bump(access == Access::kWrite ? stats_.write_misses : stats_.read_misses);
          } else {
            FaultStats::bump(stats_.write_upgrades);
          }
          Request& r = s.requests[frame];
          r.want = access;
          r.started_ns = now_ns();
          need_dispatch = start_request(s, frame, r);
          it = s.requests.find(frame);
        } else {
          FaultStats::bump(stats_.coalesced);
          if (access == Access::kWrite && !it->second.dispatched) it->second.want = access;
        }
        if (!it->second.outcome) it->second.outcome = std::make_shared<Outcome>();
        outcome = it->second.outcome;
      }
      if (release) release_slot();
      if (need_dispatch) dispatch(frame);
      std::unique_lock lock(s.mu);
      s.cv.wait(lock, [&] { return outcome->done; });
      if (!outcome->status.ok()) return outcome->status;
      // Loop: the frame may have come in with less than `access`, or gone again.
    }
  }
  return {};
}

base::Status FaultEngine::resolve_fault(int uffd, uint64_t addr, Access access) {
  addr &= ~(kPage - 1);
  uint64_t frame;
  uint32_t gen;
  if (!frame_of(uffd, addr, &frame, &gen))
    return base::Error("resolve_fault: address not attached", EFAULT);
  {
    // SIGBUS does not say whether the access was a write. Reads of a present
    // page never fault, so a fault on a frame present here is a write (or
    // raced with the page arriving: then the upgrade is merely early).
    Stripe& s = stripe(frame);
    std::lock_guard lock(s.mu);
    if (frames_[frame].state != State::kAbsent) access = Access::kWrite;
  }
  for (;;) {
    TRY(make_present(frame, 1, access));
    Stripe& s = stripe(frame);
    std::lock_guard lock(s.mu);
    const Frame& f = frames_[frame];
    // Unprotect only under the lock, while the frame is still Writable.
    if (access == Access::kWrite && f.state == State::kWritable) {
      return uffd::write_protect(uffd, addr, kPage, false);
    }
    if (access == Access::kRead && f.state != State::kAbsent) return {};
  }
}

base::Status FaultEngine::invalidate(uint64_t frame) {
  if (frame >= options_.frames) return base::Error("invalidate: frame out of range", EINVAL);
  install_held();
  Stripe& s = stripe(frame);
  {
    std::unique_lock lock(s.mu);
    wait_unheld(s, lock, frame);
    Frame& f = frames_[frame];
    if (f.state == State::kAbsent) {
      if (!f.staged) return {};
      drop_staged(s, frame, f);  // a read-ahead copy counts as a copy
      FaultStats::bump(stats_.invalidations);
      goto release;
    }
    // Protect first: the punch keeps a protected pte's marker, so the frame
    // stays protected in every mapping when it comes back.
    if (f.state == State::kWritable && !protect_everywhere(frame, true)) {
      return base::Error("invalidate: cannot write-protect every mapping", EIO);
    }
    TRY(punch(frame));
    bool in_clock = f.in_clock;
    f = Frame{};
    f.in_clock = in_clock;
    FaultStats::bump(stats_.invalidations);
  }
release:
  release_slot();
  return {};
}

base::Status FaultEngine::downgrade(uint64_t frame) {
  if (frame >= options_.frames) return base::Error("downgrade: frame out of range", EINVAL);
  install_held();
  Stripe& s = stripe(frame);
  std::unique_lock lock(s.mu);
  wait_unheld(s, lock, frame);
  Frame& f = frames_[frame];
  if (f.state != State::kWritable) return {};
  if (!protect_everywhere(frame, true)) {
    return base::Error("downgrade: cannot write-protect every mapping", EIO);
  }
  f.state = State::kShared;
  f.soft_wp = false;
  FaultStats::bump(stats_.downgrades);
  return {};
}

base::Status FaultEngine::read_page(uint64_t frame, std::span<std::byte> out) const {
  if (frame >= options_.frames || out.size() < kPage) {
    return base::Error("read_page: bad frame or buffer", EINVAL);
  }
  const_cast<FaultEngine*>(this)->install_held();
  Stripe& s = const_cast<FaultEngine*>(this)->stripe(frame);
  std::unique_lock lock(s.mu);
  wait_unheld(s, lock, frame);
  if (frames_[frame].state == State::kAbsent) {
    return base::Error("read_page: frame not present here", ENOENT);
  }
  // A file read does not go through the page tables: it cannot fault.
  if (::pread(memfd_.get(), out.data(), kPage, static_cast<off_t>(frame * kPage)) !=
      static_cast<ssize_t>(kPage)) {
    return base::Error::from_errno("pread frame");
  }
  return {};
}

base::Status FaultEngine::install(uint64_t frame, const std::byte* data, bool writable) {
  if (frame >= options_.frames) return base::Error("install: frame out of range", EINVAL);
  install_held();
  Stripe& s = stripe(frame);
  base::Status status;
  bool release = false;
  {
    std::unique_lock lock(s.mu);
    wait_unheld(s, lock, frame);
    Frame& f = frames_[frame];
    auto it = s.requests.find(frame);
    Request* r = it != s.requests.end() ? &it->second : nullptr;
    if (r != nullptr && r->evicting) return base::Error("install: frame is being evicted", EAGAIN);
    const bool was_absent = f.state == State::kAbsent;
    bool took_request_slot = false;
    if (was_absent) {
      // A fetch in flight or a staged read-ahead page holds a slot: take it over.
      if (f.staged) {
        drop_staged(s, frame, f);
      } else if (r != nullptr && r->has_slot) {
        r->has_slot = false;
        took_request_slot = true;
      } else if (!reserve_slot(false, frame)) {
        kick_evictor();
        return base::Error("install: node memory budget full", ENOSPC);
      }
    }
    bool own_woken = false;
    status = put_page(frame, data, was_absent, writable, &own_woken);
    if (!status.ok()) {
      if (took_request_slot) {
        r->has_slot = true;
      } else {
        release = was_absent;
      }
    } else {
      if (was_absent) note_resident(frame, f);
      if (writable && !was_absent) {
        (void)uffd::write_protect(uffd_.get(), own_addr(frame), kPage, false);
        own_woken = true;
      } else if (!writable && f.state == State::kWritable) {
        protect_everywhere(frame, true);
      }
      f.state = writable ? State::kWritable : State::kShared;
      f.soft_wp = false;
      f.referenced = !was_absent;
      f.dirty = writable;
      FaultStats::bump(stats_.installs);
      if (r != nullptr) {
        // Waiters of a fetch still in flight go on now; its answer, when it
        // comes, finds the frame present and only refreshes the data. A miss
        // still queued for room is simply done.
        wake_waiters(r->waiters, writable, own_woken);
        r->waiters.clear();
        if (!r->dispatched) {
          finish(s, *r, {});
          s.requests.erase(it);
        }
      }
    }
  }
  if (release) release_slot();
  return status;
}

}  // namespace dsm
