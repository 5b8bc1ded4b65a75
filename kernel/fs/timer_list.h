#pragma once
// TimerList: deadlines of kernel-side files (timerfd), CLOCK_MONOTONIC ns,
// fired by the scheduler's run_timers beside alarms and sleepers. One list
// per kernel process; a callback runs on the kernel thread, at or after its
// deadline, once (a periodic owner adds itself again).
//
// Threads: the kernel thread only.

#include <cstdint>
#include <functional>
#include <map>

namespace kernel::fs {

class TimerList {
 public:
  static TimerList& get();
  // Returns an id for cancel().
  uint64_t add(uint64_t deadline_ns, std::function<void()> fire);
  void cancel(uint64_t id);
  // Fires every callback due at `now_ns`; returns the next deadline (0: none).
  uint64_t run(uint64_t now_ns);

 private:
  uint64_t next_id_ = 1;
  std::multimap<uint64_t, std::pair<uint64_t, std::function<void()>>> by_deadline_;
  std::map<uint64_t, uint64_t> deadline_of_;  // id -> deadline
};

}  // namespace kernel::fs
