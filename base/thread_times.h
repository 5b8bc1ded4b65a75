#pragma once
// CPU time of this process's threads, summed by thread name
// (/proc/self/task/*/comm and schedstat): how long each named kind of thread
// ran and how long it was runnable but waiting for a CPU. Benchmarks take
// two snapshots and report the difference (ThreadTimes::since).

#include <map>
#include <string>

namespace base {

struct ThreadTime {
  double on_cpu_s = 0;   // ran
  double waiting_s = 0;  // runnable, waiting on a run queue
};

class ThreadTimes {
 public:
  // Threads that exit between two snapshots drop out of the later one.
  static ThreadTimes now();
  // Per name: this snapshot minus `earlier` (threads in both snapshots only).
  std::map<std::string, ThreadTime> since(const ThreadTimes& earlier) const;

 private:
  struct Entry {
    std::string name;
    ThreadTime t;
  };
  std::map<long, Entry> by_tid_;
};

}  // namespace base
