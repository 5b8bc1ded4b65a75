// The primary caches no more than it gives (docs/spread.md "Budget"): a
// guest whose working set is eight times the primary's cache budget writes
// and re-reads it, every byte checked, while the primary evicts; its cache
// never held more than the budget (the PEAK and BUDGET columns of the
// spread table, tools/spread_table.h).

#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace itest {
namespace {

// A node's row of the spread table: NODE HOMED HOME-MEM CACHED FETCHED
// SERVED SENT RECV PEAK BUDGET EVICTED.
struct CacheRow {
  bool found = false;
  long cached = -1, fetched = -1, peak = -1, budget = -1, evicted = -1;
};
CacheRow cache_row(const std::string& table, const std::string& node) {
  std::istringstream in(table);
  for (std::string line; std::getline(in, line);) {
    std::istringstream w(line);
    std::string name, homed, home_mem, served, sent, recv;
    CacheRow r;
    if (!(w >> name) || name != node) continue;
    if (w >> homed >> home_mem >> r.cached >> r.fetched >> served >> sent >> recv >> r.peak >>
        r.budget >> r.evicted) {
      r.found = true;
      return r;
    }
  }
  return {};
}

TEST(Spread, PrimaryBudgetHoldsWhileTheGuestWorksOnEightTimesIt) {
  TempDir dir;
  int base = 26000 + (getpid() % 500) * 8;
  // The primary gives 4 MiB (the floor, 1024 frames); the guest's buffers
  // take 2 x 16 MiB of the 64.
  std::string text =
      "[cluster]\nname = \"budget\"\nsecret = \"budget-test-secret\"\n[guest]\nmemory = "
      "\"64MiB\"\n";
  const char* memory[] = {"4MiB", "30MiB", "30MiB"};
  for (int i = 0; i < 3; ++i) {
    text += fmt::format("[[node]]\nname = \"n{}\"\naddress = \"127.0.0.1:{}\"\nmemory = \"{}\"\n{}",
                        i, base + 2 * i, memory[i], i == 0 ? "primary = true\n" : "");
  }
  dir.write("cluster.toml", text);
  std::string config = dir.file("cluster.toml");
  Nodes nodes;
  nodes.start("n1", config, dir.file("n1.log"));
  nodes.start("n2", config, dir.file("n2.log"));
  RunResult r =
      run_pangaea({"boot", "--config", config, "--node-stats", "root=/dev/root",
                   "rootfstype=hostfs", "rootflags=/", "--", PANGAEA_BUDGET_GUEST, "16", "2"},
                  110s);
  ASSERT_EQ(r.status, 0) << r.out << r.err << node_logs(dir, 3);
  EXPECT_NE(r.out.find("ok: 16 MiB, 2 rounds"), std::string::npos) << r.out;
  CacheRow primary = cache_row(r.err, "n0");
  ASSERT_TRUE(primary.found) << r.err;
  EXPECT_EQ(primary.budget, 1024) << r.err;
  // The budget is a hard bound on what is cached (present or being
  // fetched): no slack.
  EXPECT_GT(primary.peak, 0) << r.err;
  EXPECT_LE(primary.peak, primary.budget) << r.err;
  EXPECT_LE(primary.cached, primary.budget) << r.err;
  EXPECT_GT(primary.evicted, 0) << r.err;
  EXPECT_GT(primary.fetched, 8192) << "the working set came from the other nodes\n" << r.err;
  for (const char* n : {"n1", "n2"}) {
    CacheRow row = cache_row(r.err, n);
    ASSERT_TRUE(row.found) << n << "\n" << r.err;
    EXPECT_EQ(row.budget, 7680) << n << " (30 MiB)\n" << r.err;
  }
  EXPECT_EQ(nodes.terminate("n1"), 0);
  EXPECT_EQ(nodes.terminate("n2"), 0);
}

}  // namespace
}  // namespace itest
