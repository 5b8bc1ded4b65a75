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

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
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
    for (;;) {
      const uint64_t r = resident_.load();
      if (r <= low_ && room_waiting_.load() == 0) break;
      // Victims in groups: a scan's frames leave in install order, so a
      // group is mostly consecutive frames and is punched with one call
      // (one TLB shoot-down instead of one per page).
      const size_t want = r > low_ ? std::min<uint64_t>(r - low_, kEvictGroup) : 1;
      if (evict_some(want) == 0) {
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

bool FaultEngine::pick_victim(Victim* v) {
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
    v->frame = frame;
    v->dirty = f.dirty;
    v->data.clear();
    if (v->dirty) {
      v->data.resize(kPage);
      if (::pread(memfd_.get(), v->data.data(), kPage, static_cast<off_t>(frame * kPage)) !=
          static_cast<ssize_t>(kPage)) {
        v->dirty = false;  // cannot happen for a present page; do not write back garbage
      }
    }
    return true;
  }
  return false;
}

size_t FaultEngine::evict_some(size_t want) {
  std::vector<Victim> victims;
  victims.reserve(want);
  while (victims.size() < want) {
    Victim v;
    if (!pick_victim(&v)) break;
    victims.push_back(std::move(v));
  }
  if (victims.empty()) return 0;
  // Write-backs (or notices) first, all of them, then the punches.
  std::vector<std::promise<base::Status>> written(victims.size());
  for (size_t i = 0; i < victims.size(); ++i) {
    Victim& v = victims[i];
    provider_->evict(v.frame, v.dirty ? v.data.data() : nullptr,
                     [p = &written[i]](base::Status st) { p->set_value(std::move(st)); });
  }
  for (size_t i = 0; i < victims.size(); ++i) victims[i].written = written[i].get_future().get();
  std::sort(victims.begin(), victims.end(),
            [](const Victim& a, const Victim& b) { return a.frame < b.frame; });
  size_t dropped = 0;
  for (size_t i = 0; i < victims.size();) {
    // A group of consecutive frames: one punch.
    size_t j = i + 1;
    while (j < victims.size() && victims[j].frame == victims[j - 1].frame + 1) ++j;
    dropped += finish_evictions(std::span<Victim>(victims.data() + i, j - i));
    i = j;
  }
  return dropped;
}

size_t FaultEngine::finish_evictions(std::span<Victim> group) {
  constexpr uint64_t kPage = base::kPageSize;
  // Lock the group's stripes in ascending stripe index (the lock order),
  // each once: a group longer than kStripes has several frames per stripe.
  std::array<bool, kStripes> used{};
  for (const Victim& v : group) used[v.frame % kStripes] = true;
  std::vector<std::unique_lock<std::mutex>> locks;
  locks.reserve(std::min<size_t>(group.size(), kStripes));
  for (size_t i = 0; i < static_cast<size_t>(kStripes); ++i) {
    if (used[i]) locks.emplace_back(stripes_[i].mu);
  }

  // Which frames go: written back (or clean) and still present here. Staged
  // and invalidated frames have no page in the memfd: punching them again
  // is harmless, so they do not split a range.
  std::vector<bool> punch_it(group.size(), false), ok(group.size(), false);
  for (size_t k = 0; k < group.size(); ++k) {
    const Frame& f = frames_[group[k].frame];
    // A staged page the provider keeps (refused: it may hold the only
    // current bytes) stays, like any other refused victim.
    ok[k] = group[k].written.ok() || (f.state == State::kAbsent && !f.staged);
    punch_it[k] = ok[k];
  }
  for (size_t k = 0; k < group.size();) {
    if (!punch_it[k]) {
      ++k;
      continue;
    }
    size_t e = k + 1;
    while (e < group.size() && punch_it[e]) ++e;
    if (::fallocate(memfd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                    static_cast<off_t>(group[k].frame * kPage),
                    static_cast<off_t>((e - k) * kPage)) != 0) {
      for (size_t m = k; m < e; ++m)
        ok[m] = frames_[group[m].frame].staged ? group[m].written.ok()
                                               : frames_[group[m].frame].state == State::kAbsent;
    } else {
      FaultStats::bump(stats_.punches);
    }
    k = e;
  }
  size_t dropped = 0;
  std::vector<bool> release(group.size(), false);
  for (size_t k = 0; k < group.size(); ++k) {
    const uint64_t frame = group[k].frame;
    Stripe& s = stripe(frame);
    auto it = s.requests.find(frame);
    Request r = std::move(it->second);
    s.requests.erase(it);
    Frame& f = frames_[frame];
    if (f.staged && !ok[k]) {
      std::lock_guard lock(clock_mu_);
      clock_.push_back(frame);
    } else if (f.staged) {
      drop_staged(s, frame, f);  // read ahead, never used: not in the memfd
      f = Frame{};
      release[k] = true;
      FaultStats::bump(stats_.evictions);
    } else if (f.state == State::kAbsent) {
      // Invalidated while written back: already punched, slot already given
      // back. Popped from the clock, so it must be pushed when it returns.
      f.in_clock = false;
    } else if (ok[k]) {
      f = Frame{};
      release[k] = true;
      FaultStats::bump(stats_.evictions);
      if (group[k].dirty) FaultStats::bump(stats_.write_backs);
    } else {
      if (f.state == State::kWritable) f.soft_wp = true;  // protected above
      std::lock_guard lock(clock_mu_);
      clock_.push_back(frame);
    }
    // Threads that faulted meanwhile fault again and start a fresh fetch.
    wake_waiters(r.waiters, false, false);
    finish(s, r, {});
  }
  locks.clear();
  for (size_t k = 0; k < group.size(); ++k) {
    if (!release[k]) continue;
    release_slot();
    ++dropped;
  }
  return dropped;
}

}  // namespace dsm
