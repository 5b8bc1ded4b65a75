#pragma once
// WaitQueue: who to wake when a file becomes readable or writable. The
// kernel adds a wake-up for a blocked process; the file calls notify_all()
// when its state changes. Wake-ups are one-shot.
//
// Threads: the kernel thread only.

#include <functional>
#include <utility>
#include <vector>

namespace kernel::fs {

class WaitQueue {
 public:
  void add(std::function<void()> wake) { waiters_.push_back(std::move(wake)); }
  void notify_all() {
    auto w = std::move(waiters_);
    waiters_.clear();
    for (auto& f : w) f();
  }

 private:
  std::vector<std::function<void()>> waiters_;
};

}  // namespace kernel::fs
