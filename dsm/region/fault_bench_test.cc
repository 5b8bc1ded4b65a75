// The fault benchmark runs end to end on a tiny configuration and reports
// every figure (no timing assertions: tests check behaviour, not speed).

#include "dsm/region/fault_bench.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include <algorithm>

#include "dsm/region/region_test_util.h"

namespace dsm {
namespace {

TEST(FaultBench, RunsAndReportsEveryFigure) {
  FaultBenchOptions o;
  const uint16_t base = testing::region_test_port(120);  // past the clusters' ports
  o.a.port = base;
  o.b.port = base + 1;
  o.bare_a.port = base + 2;
  o.bare_b.port = base + 3;
  o.faults = 64;
  o.scan_bytes = 1 << 20;
  o.scan_budget_bytes = 512 << 10;  // half of it: the evictor works during the scan
  o.raw_iterations = 50;
  o.raw_reply_bytes = 64 << 10;
  auto r = run_fault_bench(o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->read_random.count, 64u);
  // The scan read back every byte it expected (or run_fault_bench fails)
  // through a cache of half its size.
  EXPECT_EQ(r->scan_budget_frames, 128u);
  EXPECT_GT(r->scan_evictions, 0u);
  EXPECT_EQ(r->write_sequential.count, 64u);
  EXPECT_GT(r->read_random.p50_us, 0);
  EXPECT_GT(r->fabric_rtt.p50_us, 0);
  EXPECT_GT(r->local_uffd.p50_us, 0);
  EXPECT_GT(r->scan_mb_s, 0);
  EXPECT_GT(r->read_fault_p50_ratio, 0);
  // (d): (c)'s replies installed into a cache at the scan's budget.
  EXPECT_GT(r->floor_mb_s, 0);
  EXPECT_GT(r->scan_to_floor_ratio, 0);
  std::string json = format_fault_json(*r);
  EXPECT_NE(json.find("\"read_fault_p50_ratio\""), std::string::npos);
  EXPECT_NE(json.find("\"scan_bandwidth_ratio\""), std::string::npos);
  EXPECT_NE(json.find("\"install_floor_mb_s\""), std::string::npos);
  // Three figures each ("0.66 0.67 0.93").
  EXPECT_EQ(std::count(r->load_start.begin(), r->load_start.end(), ' '), 2) << r->load_start;
  EXPECT_NE(json.find("\"load_average_end\":\"" + r->load_end + "\""), std::string::npos);
  // The scan's CPU by thread: both nodes' progress threads worked in it.
  EXPECT_GT(r->scan_threads["pg-fabric0"].on_cpu_s, 0);
  EXPECT_GT(r->scan_threads["pg-fabric1"].on_cpu_s, 0);
  EXPECT_NE(json.find("\"scan_threads\":{"), std::string::npos);
  EXPECT_NE(json.find("\"pg-fabric1\":{\"cpu_s\":"), std::string::npos);
  EXPECT_NE(format_fault_table(*r).find("read_fault_p50_ratio"), std::string::npos);
}

}  // namespace
}  // namespace dsm
