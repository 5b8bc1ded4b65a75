// The per-node memory budget: slot accounting and the background evictor.
//
// A slot is taken when a miss is dispatched (or a page installed) and given
// back when the frame leaves (eviction, invalidation, failed fetch); so the
// frames present plus the fetches in flight never exceed the budget. A miss
// that finds no slot waits in room_waiters_ and is dispatched by whoever
// frees the next slot; its faulting threads stay blocked in the kernel
// meanwhile, and no handler thread waits.
//
// Victims come from a clock over install order: a frame whose reference bit
// is set (by a fault or make_present on it while present, since the hand last
// passed) gets a second chance. New frames start unreferenced, so a one-pass
// scan evicts its own frames first. Shared frames give no other signal (reads
// of a present page never fault); Writable frames are write-protected when
// the hand passes them (write_sampling) and spared once, so a frame written
// since re-faults locally, sets the bit, and survives.

#include <unistd.h>

#include <chrono>
#include <future>
#include <vector>

#include "base/bytes.h"
#include "dsm/fault/fault_engine.h"
#include "dsm/fault/uffd.h"

namespace dsm {

bool FaultEngine::reserve_slot(bool queue_frame, uint64_t frame) {
  std::lock_guard lock(room_mu_);
  uint64_t r = resident_.load();
  if (options_.budget_frames == 0 || r < options_.budget_frames) {
    resident_.store(r + 1);
    uint64_t m = resident_max_.load();
    if (r + 1 > m) resident_max_.store(r + 1);
    if (options_.budget_frames != 0 && r + 1 >= high_) evictor_cv_.notify_one();
    return true;
  }
  if (queue_frame) {
    room_waiters_.push_back(frame);
    room_waiting_.store(room_waiters_.size());
    FaultStats::bump(stats_.waits_for_room);
    evictor_cv_.notify_one();
  }
  return false;
}

void FaultEngine::release_slot() {
  for (;;) {
    uint64_t frame;
    {
      std::lock_guard lock(room_mu_);
      if (room_waiters_.empty()) {
        resident_.fetch_sub(1);
        return;
      }
      frame = room_waiters_.front();
      room_waiters_.pop_front();
      room_waiting_.store(room_waiters_.size());
    }
    // Hand the slot straight to a waiting miss, if it still wants it.
    Stripe& s = stripe(frame);
    {
      std::lock_guard lock(s.mu);
      auto it = s.requests.find(frame);
      if (it == s.requests.end() || it->second.dispatched || it->second.has_slot ||
          frames_[frame].state != State::kAbsent) {
        continue;
      }
      it->second.has_slot = true;
    }
    {
      std::lock_guard lock(ready_mu_);
      ready_.push_back(frame);
    }
    uint64_t one = 1;
    (void)!::write(ready_event_.get(), &one, sizeof one);
    return;
  }
}

void FaultEngine::kick_evictor() { evictor_cv_.notify_one(); }

void FaultEngine::evictor_loop() {
  std::unique_lock lock(clock_mu_);
  while (!stop_) {
    // The timeout covers a notify that raced with going to sleep.
    evictor_cv_.wait_for(lock, std::chrono::milliseconds(20), [&] {
      return stop_ || resident_.load() >= high_ || room_waiting_.load() != 0;
    });
    if (stop_) break;
    lock.unlock();
    bool stuck = false;
    while (resident_.load() > low_ || room_waiting_.load() != 0) {
      if (!evict_one()) {
        stuck = true;
        break;
      }
    }
    lock.lock();
    // Every candidate busy (fetches or upgrades in flight): give them time
    // rather than spin on a predicate that is still true.
    if (stuck && !stop_) evictor_cv_.wait_for(lock, std::chrono::milliseconds(2));
  }
}

bool FaultEngine::evict_one() {
  constexpr uint64_t kPage = base::kPageSize;
  size_t budget;
  {
    std::lock_guard lock(clock_mu_);
    budget = 2 * clock_.size() + 1;
  }
  for (size_t tries = 0; tries < budget; ++tries) {
    uint64_t frame;
    {
      std::lock_guard lock(clock_mu_);
      if (clock_.empty() || stop_) return false;
      frame = clock_.front();
      clock_.pop_front();
    }
    auto requeue = [&] {
      std::lock_guard lock(clock_mu_);
      clock_.push_back(frame);
    };
    Stripe& s = stripe(frame);
    bool dirty = false;
    std::vector<std::byte> data;
    {
      std::lock_guard lock(s.mu);
      Frame& f = frames_[frame];
      if (f.state == State::kAbsent && !f.staged) {
        f.in_clock = false;
        continue;
      }
      if (s.requests.count(frame) != 0) {  // busy: an upgrade or install under way
        requeue();
        continue;
      }
      const bool unsampled = options_.write_sampling && f.state == State::kWritable && !f.soft_wp;
      if (!f.staged && (f.referenced || unsampled)) {
        // Second chance. A Writable frame's writes do not fault, so protect
        // it first and let its next write (a local re-fault) say it is used.
        f.referenced = false;
        if (unsampled) f.soft_wp = protect_everywhere(frame, true);
        requeue();
        continue;
      }
      Request& r = s.requests[frame];
      r.evicting = true;
      r.dispatched = true;
      // Stop writers before reading the data out; threads that fault now
      // wait on the request and retry once the frame is gone.
      if (f.state == State::kWritable && !f.soft_wp && !protect_everywhere(frame, true)) {
        s.requests.erase(frame);  // cannot stop writers: not a victim now
        requeue();
        continue;
      }
      dirty = f.dirty;
      if (dirty) {
        data.resize(kPage);
        if (::pread(memfd_.get(), data.data(), kPage, static_cast<off_t>(frame * kPage)) !=
            static_cast<ssize_t>(kPage)) {
          dirty = false;  // cannot happen for a present page; do not write back garbage
        }
      }
    }
    std::promise<base::Status> written;
    provider_->evict(frame, dirty ? data.data() : nullptr,
                     [&written](base::Status st) { written.set_value(std::move(st)); });
    base::Status st = written.get_future().get();
    bool dropped = false;
    {
      std::lock_guard lock(s.mu);
      auto it = s.requests.find(frame);
      Request r = std::move(it->second);
      s.requests.erase(it);
      Frame& f = frames_[frame];
      if (f.staged) {
        drop_staged(s, frame, f);  // read ahead, never used: not in the memfd
        f = Frame{};
        dropped = true;
        FaultStats::bump(stats_.evictions);
      } else if (f.state == State::kAbsent) {
        // Invalidated while written back: already punched, slot already given
        // back. Popped from the clock, so it must be pushed when it returns.
        f.in_clock = false;
      } else if (st.ok() && punch(frame).ok()) {
        f = Frame{};
        dropped = true;
        FaultStats::bump(stats_.evictions);
        if (dirty) FaultStats::bump(stats_.write_backs);
      } else {
        if (f.state == State::kWritable) f.soft_wp = true;  // protected above
        requeue();
      }
      // Threads that faulted meanwhile fault again and start a fresh fetch.
      wake_waiters(r.waiters, false, false);
      finish(s, r, {});
    }
    if (dropped) {
      release_slot();
      return true;
    }
  }
  return false;
}

}  // namespace dsm
