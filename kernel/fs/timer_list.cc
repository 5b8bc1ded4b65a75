#include "kernel/fs/timer_list.h"

#include <vector>

namespace kernel::fs {

TimerList& TimerList::get() {
  static TimerList list;
  return list;
}

uint64_t TimerList::add(uint64_t deadline_ns, std::function<void()> fire) {
  uint64_t id = next_id_++;
  by_deadline_.emplace(deadline_ns, std::make_pair(id, std::move(fire)));
  deadline_of_[id] = deadline_ns;
  return id;
}

void TimerList::cancel(uint64_t id) {
  auto it = deadline_of_.find(id);
  if (it == deadline_of_.end()) return;
  auto [lo, hi] = by_deadline_.equal_range(it->second);
  for (auto e = lo; e != hi; ++e) {
    if (e->second.first == id) {
      by_deadline_.erase(e);
      break;
    }
  }
  deadline_of_.erase(it);
}

uint64_t TimerList::run(uint64_t now_ns) {
  // Take the due ones out first: a callback may add or cancel timers.
  std::vector<std::function<void()>> due;
  while (!by_deadline_.empty() && by_deadline_.begin()->first <= now_ns) {
    auto e = by_deadline_.begin();
    deadline_of_.erase(e->second.first);
    due.push_back(std::move(e->second.second));
    by_deadline_.erase(e);
  }
  for (auto& f : due) f();
  return by_deadline_.empty() ? 0 : by_deadline_.begin()->first;
}

}  // namespace kernel::fs
