#pragma once
// Preempter: time slices for guest code under ptrace. Guest code between two
// syscalls never comes back to the kernel by itself, so a guest thread that
// spins waiting for another guest thread would hold the kernel forever. When
// a slice is set, a helper host thread watches the tracee thread that runs
// guest code; if the same run lasts longer than the slice, it sends that
// thread kSignal with tgkill. The tracer sees a signal-delivery stop, reports
// SwitchResult::kPreempted and suppresses the signal when it resumes the
// thread. A late kick (the run ended just before) only shows up as one
// spurious kPreempted at the thread's next run.
//
// Threads: begin_run/end_run/set_slice are called by the kernel thread; the
// helper thread only reads the run record (atomics, checked with a
// generation number) and calls tgkill. No locks besides the helper's own
// mutex, which guards only its sleep (lock order: mu_ alone).

#include <signal.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace kernel::platform {

class Preempter {
 public:
  // The host signal that kicks a tracee thread (never delivered to it).
  static constexpr int kSignal = SIGURG;

  Preempter();
  ~Preempter();
  Preempter(const Preempter&) = delete;
  Preempter& operator=(const Preempter&) = delete;

  // 0 disables preemption (the helper then sleeps until enabled again).
  void set_slice(uint64_t ns);
  // Around each run of guest code by thread `tid` of stub `pid`.
  void begin_run(pid_t pid, pid_t tid);
  void end_run();

 private:
  void loop();

  std::atomic<uint64_t> slice_ns_{0};
  // Odd while a run is in progress; each begin/end adds one.
  std::atomic<uint64_t> gen_{0};
  std::atomic<pid_t> pid_{0}, tid_{0};
  std::atomic<uint64_t> start_ns_{0};
  // The helper sleeps on cv_ until a slice is set (it parks only after the
  // slice stayed off for kParkAfter; set_slice wakes it only then).
  std::atomic<bool> parked_{false};
  static constexpr std::chrono::nanoseconds kParkAfter{200'000'000};
  static constexpr std::chrono::nanoseconds kIdlePoll{10'000'000};

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace kernel::platform
