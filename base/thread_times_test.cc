#include "base/thread_times.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "base/thread_name.h"

namespace base {
namespace {

TEST(ThreadTimes, ANamedBusyThreadShowsItsCpuTime) {
  ThreadTimes before = ThreadTimes::now();
  std::atomic<bool> started{false};
  std::atomic<bool> counted{false};
  std::thread busy([&] {
    name_this_thread("pg-test-busy");
    const ThreadTimes at_start = ThreadTimes::now();
    started = true;
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(60);
    while (std::chrono::steady_clock::now() < until) {
    }
    const auto times = ThreadTimes::now().since(at_start);
    auto it = times.find("pg-test-busy");
    counted = it != times.end() && it->second.on_cpu_s >= 0.03;
  });
  busy.join();
  EXPECT_TRUE(started.load());
  EXPECT_TRUE(counted.load());
  // A thread that was not in the earlier snapshot is left out.
  EXPECT_EQ(ThreadTimes::now().since(before).count("pg-test-busy"), 0u);
}

TEST(ThreadTimes, NamesLongerThanFifteenBytesAreCut) {
  std::string seen;
  std::thread t([&] {
    name_this_thread("pg-a-very-long-thread-name");
    ThreadTimes a = ThreadTimes::now();
    for (const auto& [name, time] : ThreadTimes::now().since(a)) {
      if (name.rfind("pg-a-very", 0) == 0) seen = name;
    }
  });
  t.join();
  EXPECT_EQ(seen, "pg-a-very-long-");
}

}  // namespace
}  // namespace base
