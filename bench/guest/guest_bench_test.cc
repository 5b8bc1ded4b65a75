#include "bench/guest/guest_bench.h"

#include <gtest/gtest.h>

namespace bench {
namespace {

constexpr const char* kGoodOutput =
    "Linux version 6.1 (noise)\r\n"
    "GB getpid iters=20 best_ns=150.5 median_ns=160.0\r\n"
    "GB open_read_close iters=5 best_ns=2000 median_ns=2100\n"
    "GB touch iters=10 best_ns=1200 median_ns=1300\n"
    "GB fork_wait iters=1 best_ns=90000 median_ns=95000\n"
    "GB pipe_pingpong iters=5 best_ns=5000 median_ns=5100\n"
    "[   1.0] a kernel line GB fork_exec iters=1 best_ns=150000 median_ns=160000\n"
    "GB done\n"
    "reboot: System halted\n";

TEST(ParseGuestOutput, ReadsEveryRowAndIgnoresOtherLines) {
  auto rows = parse_guest_output(kGoodOutput);
  ASSERT_TRUE(rows.ok()) << rows.error().message();
  ASSERT_EQ(rows->size(), std::size(kGuestRows));
  EXPECT_EQ((*rows)[0]->iters, 20);
  EXPECT_DOUBLE_EQ((*rows)[0]->best_ns, 150.5);
  EXPECT_DOUBLE_EQ((*rows)[0]->median_ns, 160.0);
  EXPECT_DOUBLE_EQ((*rows)[5]->best_ns, 150000);
}

TEST(ParseGuestOutput, FailsWithoutDone) {
  std::string out = kGoodOutput;
  out.erase(out.find("GB done"), 7);
  EXPECT_FALSE(parse_guest_output(out).ok());
}

TEST(ParseGuestOutput, FailsOnAMissingRow) {
  std::string out = kGoodOutput;
  out.erase(out.find("GB touch"), 5);
  EXPECT_FALSE(parse_guest_output(out).ok());
}

TEST(ParseGuestOutput, ReportsTheProgramsError) {
  auto rows = parse_guest_output(
      "GB getpid iters=1 best_ns=1 median_ns=1\n"
      "GB error fork_exec fork: Resource temporarily unavailable\n");
  ASSERT_FALSE(rows.ok());
  EXPECT_NE(rows.error().message().find("fork_exec fork"), std::string::npos);
}

TEST(ParseGuestOutput, FailsOnAMalformedLine) {
  std::string out = kGoodOutput;
  out.replace(out.find("best_ns=2000"), 12, "best_ns=oops");
  EXPECT_FALSE(parse_guest_output(out).ok());
}

TEST(MeasureSysemu, GivesPositiveRoundTrips) {
  auto r = measure_sysemu(200);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_GT(r->raw_ns, 0);
  EXPECT_GT(r->regs_ns, 0);
  EXPECT_LT(r->raw_ns, 1e9);
}

#ifdef PANGAEA_BIN
// End to end with tiny counts, natively and in our guest; the peers are
// skipped (no test depends on UML or gVisor being installed).
TEST(GuestBench, RunsEveryRowNativelyAndInOurGuest) {
  GuestBenchOptions o;
  o.iterations = 20;
  o.boot_command = {PANGAEA_BIN, "boot"};
  o.peers = false;
  o.timeout_seconds = 60;
  auto report = run_guest_bench(o);
  ASSERT_TRUE(report.ok()) << report.error().message();
  ASSERT_EQ(report->envs.size(), std::size(kGuestEnvs));
  for (GuestEnv env : {GuestEnv::kNative, GuestEnv::kPangaea}) {
    const EnvResult& e = report->envs[static_cast<size_t>(env)];
    ASSERT_TRUE(e.ok()) << env_name(env) << ": " << e.status;
    ASSERT_EQ(e.rows.size(), std::size(kGuestRows));
    for (size_t i = 0; i < e.rows.size(); ++i) {
      ASSERT_TRUE(e.rows[i].has_value()) << env_name(env) << " " << kGuestRows[i];
      EXPECT_GT(e.rows[i]->best_ns, 0) << env_name(env) << " " << kGuestRows[i];
      EXPECT_GE(e.rows[i]->median_ns, e.rows[i]->best_ns);
      EXPECT_GE(e.rows[i]->iters, 1);
    }
  }
  EXPECT_EQ(report->envs[static_cast<size_t>(GuestEnv::kUml)].status, "skipped");
  EXPECT_EQ(report->envs[static_cast<size_t>(GuestEnv::kGvisor)].status, "skipped");
  EXPECT_GT(report->sysemu.raw_ns, 0);

  std::string table = format_guest_table(*report);
  for (const char* row : kGuestRows) EXPECT_NE(table.find(row), std::string::npos) << row;
  EXPECT_NE(table.find("skipped"), std::string::npos);
  EXPECT_NE(table.find("raw PTRACE_SYSEMU round trip"), std::string::npos);
  EXPECT_NE(table.find("getpid in pangaea / raw SYSEMU round trip"), std::string::npos);

  std::string json = format_guest_json(*report);
  for (const char* key : {"\"sysemu_raw_ns\"", "\"getpid_vs_sysemu_ratio\"", "\"pangaea_ns\"",
                          "\"UML_ns\": null", "\"pangaea_vs_gvisor\": null", "\"fork_exec\""})
    EXPECT_NE(json.find(key), std::string::npos) << key;
}

// A boot command that does not exist makes our column fail, with a reason,
// and never a number.
TEST(GuestBench, AFailingGuestIsReportedNotInvented) {
  GuestBenchOptions o;
  o.iterations = 10;
  o.boot_command = {"/nonexistent/pangaea", "boot"};
  o.peers = false;
  auto report = run_guest_bench(o);
  ASSERT_TRUE(report.ok()) << report.error().message();
  const EnvResult& ours = report->envs[static_cast<size_t>(GuestEnv::kPangaea)];
  EXPECT_FALSE(ours.ok());
  EXPECT_EQ(ours.status.rfind("failed", 0), 0u) << ours.status;
  for (const auto& row : ours.rows) EXPECT_FALSE(row.has_value());
  EXPECT_NE(format_guest_table(*report).find("failed"), std::string::npos);
}
#endif

}  // namespace
}  // namespace bench
