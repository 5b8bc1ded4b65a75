// `pangaea bench fault` and `pangaea bench rtt` across two hosts: the
// serving side (`--role serve`) in one network namespace, the measuring side
// (`--role measure`) in another, as on two lab machines; and what each side
// says when the other is missing or holds another cluster secret.

#include <gtest/gtest.h>

#include <string>

#include <fmt/format.h>

#include "tests/integration/harness.h"

namespace itest {
namespace {

class BenchFaultTwoHosts : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    lab_ = NetnsLab::Create(2, &why);
    if (!lab_) GTEST_SKIP() << "network namespace test skipped: " << why;
    dir_.write("cluster.toml", config("bench-secret"));
    dir_.write("other.toml", config("not-the-bench-secret"));
  }
  std::string config(const std::string& secret) const {
    std::string text = fmt::format("[cluster]\nname = \"benchfault\"\nsecret = \"{}\"\n", secret);
    for (int i = 0; i < 2; ++i) {
      text += fmt::format("[[node]]\nname = \"n{}\"\naddress = \"{}:7700\"\nmemory = \"64MiB\"\n",
                          i, lab_->address(i));
    }
    return text;
  }
  std::vector<std::string> bench(int host, const std::string& config, std::vector<std::string> args,
                                 const std::string& which = "fault") const {
    // (Proc runs argv[0] as given, without a PATH search.)
    std::vector<std::string> cmd = {"/bin/ip",      "netns",          "exec",
                                    lab_->ns(host), pangaea_binary(), "bench",
                                    which,          "--config",       dir_.file(config)};
    cmd.insert(cmd.end(), args.begin(), args.end());
    return cmd;
  }

  TempDir dir_;
  std::unique_ptr<NetnsLab> lab_;
};

TEST_F(BenchFaultTwoHosts, MeasuresAgainstNodeOneServedOnTheOtherHost) {
  Proc server(bench(1, "cluster.toml", {"--role", "serve"}));
  ASSERT_TRUE(server.wait_for_output("waiting for --role measure", 20s)) << server.out();
  ProcResult r =
      run_proc(bench(0, "cluster.toml",
                     {"--role", "measure", "--faults", "64", "--scan-mib", "8", "--json"}),
               120s);
  ASSERT_EQ(r.status, 0) << r.out << "\n--- server:\n" << server.out();
  EXPECT_NE(r.out.find("\"role\":\"measure\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"read_fault_p50_ratio\":"), std::string::npos) << r.out;
  // The scan checked every byte it read against node 1's home copies; the
  // remote faults went over the namespaces' link to node 1.
  EXPECT_NE(r.out.find("\"ReadGrant\":{\"sent\":0,\"bytes_sent\":0,\"received\":"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(server.wait(20s), 0) << server.out();
  EXPECT_NE(server.out().find("node 1's side done"), std::string::npos) << server.out();
}

TEST_F(BenchFaultTwoHosts, MeasuringWithoutNodeOneSaysWhatIsMissing) {
  ProcResult r =
      run_proc(bench(0, "cluster.toml", {"--role", "measure", "--server-wait", "2"}), 60s);
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("no answer from the serving side"), std::string::npos) << r.out;
  // Both sides in one process cannot bind node 1's address on node 0's host.
  ProcResult both = run_proc(bench(0, "cluster.toml", {}), 60s);
  EXPECT_EQ(both.status, 1) << both.out;
  EXPECT_NE(both.out.find("run `pangaea bench fault --role serve` on its host"), std::string::npos)
      << both.out;
}

TEST_F(BenchFaultTwoHosts, CommandsUnderAnotherSecretAreRefused) {
  Proc server(bench(1, "cluster.toml", {"--role", "serve"}));
  ASSERT_TRUE(server.wait_for_output("waiting for --role measure", 20s)) << server.out();
  ProcResult r = run_proc(bench(0, "other.toml", {"--role", "measure", "--server-wait", "2"}), 60s);
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("no answer from the serving side"), std::string::npos) << r.out;
  // Node 1's side refused them and kept waiting: a measuring side with the
  // right secret still gets its run.
  EXPECT_TRUE(server.wait_for_output("refused a command", 5s)) << server.out();
  ProcResult ok = run_proc(
      bench(0, "cluster.toml", {"--role", "measure", "--faults", "16", "--scan-mib", "1"}), 120s);
  EXPECT_EQ(ok.status, 0) << ok.out << "\n--- server:\n" << server.out();
  EXPECT_EQ(server.wait(20s), 0) << server.out();
}

using BenchRttTwoHosts = BenchFaultTwoHosts;

TEST_F(BenchRttTwoHosts, MeasuresAgainstTheAnsweringEndOnTheOtherHost) {
  Proc server(bench(1, "cluster.toml", {"--from", "n0", "--to", "n1", "--role", "serve"}, "rtt"));
  ASSERT_TRUE(server.wait_for_output("waiting for --role measure", 20s)) << server.out();
  ProcResult r = run_proc(bench(0, "cluster.toml",
                                {"--from", "n0", "--to", "n1", "--role", "measure", "--size",
                                 "64,8192", "--iterations", "50", "--json"},
                                "rtt"),
                          120s);
  ASSERT_EQ(r.status, 0) << r.out << "\n--- server:\n" << server.out();
  // Our path and the bare one both went to the other namespace's address.
  EXPECT_NE(r.out.find(lab_->address(1)), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"size\": 8192"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("\"p50_ratio\": 0.000"), std::string::npos) << r.out;
  EXPECT_EQ(server.wait(20s), 0) << server.out();
  EXPECT_NE(server.out().find("answering end done"), std::string::npos) << server.out();
}

}  // namespace
}  // namespace itest
