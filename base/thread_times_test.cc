#include "base/thread_times.h"

#include <time.h>

#include <gtest/gtest.h>

#include <atomic>
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
    // Busy until this thread itself has run 50 ms (however loaded the machine).
    timespec cpu{};
    do {
      ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
    } while (cpu.tv_sec == 0 && cpu.tv_nsec < 50'000'000);
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
