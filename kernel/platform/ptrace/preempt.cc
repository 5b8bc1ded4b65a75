#include "kernel/platform/ptrace/preempt.h"

#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace kernel::platform {
namespace {

uint64_t monotonic_ns() {
  struct timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

}  // namespace

Preempter::Preempter() : thread_([this] { loop(); }) {}

Preempter::~Preempter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Preempter::set_slice(uint64_t ns) {
  uint64_t old = slice_ns_.exchange(ns);
  // Only a parked helper needs a wake-up (a futex call and a context switch
  // the kernel would otherwise pay on every switch between two guests that
  // hand work to each other: each run turns the slice on and off).
  if (old == 0 && ns != 0 && parked_.load()) {
    std::lock_guard<std::mutex> lock(mu_);  // so the wake-up cannot be missed
    cv_.notify_all();
  }
}

void Preempter::begin_run(pid_t pid, pid_t tid) {
  if (slice_ns_.load(std::memory_order_relaxed) == 0) return;
  pid_.store(pid);
  tid_.store(tid);
  start_ns_.store(monotonic_ns());
  gen_.fetch_add(1);  // odd: running
}

void Preempter::end_run() {
  if (gen_.load() & 1) gen_.fetch_add(1);
}

void Preempter::loop() {
  uint64_t last_slice = kIdlePoll.count();
  uint64_t off_since = 0;  // when the slice was last seen off (0: on)
  for (;;) {
    uint64_t slice;
    {
      std::unique_lock<std::mutex> lock(mu_);
      slice = slice_ns_.load();
      if (slice == 0) {
        // Off: poll on (at the last slice's pace) for a while, since the
        // kernel turns it on again at the next switch; park only when it
        // stays off.
        uint64_t now = monotonic_ns();
        if (!off_since) off_since = now;
        if (now - off_since < kParkAfter.count()) {
          auto wait = std::chrono::nanoseconds(last_slice / 2 ? last_slice / 2 : 1);
          if (cv_.wait_for(lock, wait, [this] { return stop_; })) return;
          continue;
        }
        parked_.store(true);
        cv_.wait(lock, [this] { return stop_ || slice_ns_.load() != 0; });
        parked_.store(false);
        if (stop_) return;
        slice = slice_ns_.load();
      }
      off_since = 0;
      last_slice = slice;
      // Sleep half a slice (bounded), waking early only to stop.
      auto wait = std::chrono::nanoseconds(slice / 2 ? slice / 2 : 1);
      if (cv_.wait_for(lock, wait, [this] { return stop_; })) return;
    }
    uint64_t g1 = gen_.load();
    if (!(g1 & 1)) continue;
    pid_t pid = pid_.load(), tid = tid_.load();
    uint64_t start = start_ns_.load();
    if (gen_.load() != g1) continue;  // the run changed while we read it
    if (monotonic_ns() - start < slice) continue;
    ::syscall(SYS_tgkill, pid, tid, kSignal);
    // One kick per run: wait for the next run before kicking again.
    while (gen_.load() == g1) {
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, std::chrono::milliseconds(1), [this] { return stop_; })) return;
    }
  }
}

}  // namespace kernel::platform
