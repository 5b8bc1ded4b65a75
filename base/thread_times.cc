#include "base/thread_times.h"

#include <dirent.h>

#include <cstdlib>
#include <fstream>

namespace base {

ThreadTimes ThreadTimes::now() {
  ThreadTimes out;
  DIR* dir = ::opendir("/proc/self/task");
  if (dir == nullptr) return out;
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const std::string task = std::string("/proc/self/task/") + e->d_name;
    std::ifstream comm(task + "/comm"), sched(task + "/schedstat");
    Entry entry;
    unsigned long long run_ns = 0, wait_ns = 0;
    if (!std::getline(comm, entry.name) || !(sched >> run_ns >> wait_ns)) continue;
    entry.t.on_cpu_s = static_cast<double>(run_ns) / 1e9;
    entry.t.waiting_s = static_cast<double>(wait_ns) / 1e9;
    out.by_tid_[std::strtol(e->d_name, nullptr, 10)] = std::move(entry);
  }
  ::closedir(dir);
  return out;
}

std::map<std::string, ThreadTime> ThreadTimes::since(const ThreadTimes& earlier) const {
  std::map<std::string, ThreadTime> out;
  for (const auto& [tid, e] : by_tid_) {
    auto it = earlier.by_tid_.find(tid);
    if (it == earlier.by_tid_.end() || it->second.name != e.name) continue;
    ThreadTime& sum = out[e.name];
    sum.on_cpu_s += e.t.on_cpu_s - it->second.t.on_cpu_s;
    sum.waiting_s += e.t.waiting_s - it->second.t.waiting_s;
  }
  return out;
}

}  // namespace base
