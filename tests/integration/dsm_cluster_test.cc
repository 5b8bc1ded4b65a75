// The DSM's cluster scenarios with real `pangaea node` processes, three of
// them, on loopback and with each node in its own network namespace (veth
// pairs to a bridge, made and removed by the test): client processes
// (client_helper, examples/dsm_counter) attach the guest region on their
// node (dsm/client) and
//  - data written through one node is read back through the two others;
//  - clients on the three nodes bumping their own word of one page at once
//    (false sharing: the page bounces) lose no update;
//  - a counter incremented under a DSM lock from the three nodes is exact;
//  - a client writing more than its node may cache makes that node evict
//    (write back, drop), and every byte is still read back everywhere.
// Control planes are unix sockets, so clients run in the root namespace.

#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace itest {
namespace {

enum class Where { kLoopback, kNamespaces };

class DsmCluster : public ::testing::TestWithParam<Where> {
 protected:
  void SetUp() override {
    std::string text = "[cluster]\nname = \"dsmcluster\"\nsecret = \"dsm-cluster-secret\"\n";
    int port = 20000 + (getpid() * 71) % 30000;
    if (GetParam() == Where::kNamespaces) {
      std::string why;
      lab_ = NetnsLab::Create(3, &why);
      if (!lab_) GTEST_SKIP() << "network namespace test skipped: " << why;
    }
    for (int i = 0; i < 3; ++i) {
      std::string address = lab_ ? lab_->address(i) + ":7700" : "127.0.0.1:0";
      if (!lab_) {
        while (!tcp_port_free(static_cast<uint16_t>(port))) port += 2;
        address = fmt::format("127.0.0.1:{}", port);
        port += 2;
      }
      text += fmt::format(
          "[[node]]\nname = \"n{}\"\naddress = \"{}\"\nmemory = \"16MiB\"\ncontrol = "
          "\"unix:{}\"\n",
          i, address, dir_.file(fmt::format("n{}.sock", i)));
    }
    dir_.write("cluster.toml", text);
    auto c = node::load_config(dir_.file("cluster.toml"));
    ASSERT_TRUE(c.ok()) << c.error().message();
    config_ = *c;
    for (int i = 0; i < 3; ++i) {
      nodes_.start(config_.nodes[static_cast<size_t>(i)].name, config_.source,
                   dir_.file(fmt::format("n{}.log", i)), lab_ ? lab_->ns(i) : "");
    }
    ASSERT_TRUE(wait_for([&] { return nodes_.all_see_each_other(config_, 3); }, 20s)) << logs();
  }
  void TearDown() override {
    for (const auto& n : config_.nodes) {
      if (nodes_.running(n.name)) {
        EXPECT_EQ(nodes_.terminate(n.name), 0) << n.name;
      }
    }
  }

  const node::NodeConfig& node(int i) const { return config_.nodes[static_cast<size_t>(i)]; }
  std::vector<std::string> helper(int on, std::vector<std::string> args) {
    args.insert(args.begin(), node(on).control);
    args.insert(args.begin(), PANGAEA_CLIENT_HELPER);
    return args;
  }
  ProcResult client(int on, std::vector<std::string> args) {
    return run_proc(helper(on, std::move(args)), 60s);
  }
  uint64_t counter(int on, const std::string& name) {
    auto s = nodes_.stats(node(on));
    return s.ok() ? s->get("region", name, ~0ull) : ~0ull;
  }
  std::string logs() { return node_logs(dir_, 3); }

  TempDir dir_;
  std::unique_ptr<NetnsLab> lab_;
  Nodes nodes_;
  node::ClusterConfig config_;
};

TEST_P(DsmCluster, WrittenOnOneNodeIsReadOnTheOthers) {
  for (int writer = 0; writer < 3; ++writer) {
    // Frames homed on each of the three nodes (interleaved: f % 3).
    for (int f = 3 * writer; f < 3 * writer + 3; ++f) {
      std::string text = fmt::format("frame {} written on n{}", f, writer);
      ProcResult w = client(writer, {"write", std::to_string(f * 4096 + 8), text});
      ASSERT_EQ(w.status, 0) << w.out << logs();
      for (int reader = 0; reader < 3; ++reader) {
        if (reader == writer) continue;
        ProcResult r =
            client(reader, {"read", std::to_string(f * 4096 + 8), std::to_string(text.size())});
        EXPECT_EQ(r.out, text + "\n") << "frame " << f << " read on n" << reader << logs();
      }
    }
  }
  for (int i = 0; i < 3; ++i) EXPECT_EQ(counter(i, "rejected"), 0u) << "n" << i;
  // `pangaea stats` serves messages by type and the latency histograms of
  // the demand faults, split into userfaultfd, network and protocol time.
  for (int i = 0; i < 3; ++i) {
    auto s = nodes_.stats(node(i));
    ASSERT_TRUE(s.ok()) << s.error().message();
    EXPECT_GT(s->get("region.messages", "ReadGrant_received"), 0u) << "n" << i;
    EXPECT_GE(s->get("region.messages", "ReadGrant_bytes_received"),
              4096 * s->get("region.messages", "ReadGrant_received"))  // each carries its page
        << "n" << i;
    const uint64_t faults = s->get("region.latency", "total_count");
    EXPECT_GT(faults, 0u) << "n" << i;
    for (const char* kind : {"uffd", "network", "protocol"}) {
      EXPECT_EQ(s->get("region.latency", std::string(kind) + "_count"), faults) << kind;
    }
    uint64_t in_buckets = 0;
    for (const auto& c : s->counters) {
      if (c.group == "region.latency" && c.name.rfind("total_lt_", 0) == 0) in_buckets += c.value;
    }
    EXPECT_EQ(in_buckets, faults) << "n" << i;
    EXPECT_GT(s->get("region.latency", "total_p50_ns"), 0u);
  }
  RunResult shown = run_pangaea(
      {"stats", "--config", config_.source, "--node", "n1", "--group", "region.latency"});
  EXPECT_EQ(shown.status, 0) << shown.err;
  EXPECT_NE(shown.out.find("region.latency"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("network_p99_ns"), std::string::npos) << shown.out;
  EXPECT_EQ(shown.out.find("region.messages"), std::string::npos) << shown.out;  // other groups
  EXPECT_EQ(shown.out.find("transport "), std::string::npos) << shown.out;
}

TEST_P(DsmCluster, FalseSharingLosesNoUpdate) {
  // One page (frame 7, homed on n1), a word of it per node, bumped by three
  // clients at once (they meet at a barrier word of the same page first).
  constexpr int kBumps = 3000;
  const uint64_t page = 7 * 4096;
  std::vector<std::unique_ptr<Proc>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<Proc>(
        helper(i, {"bump", std::to_string(page + 64 * i), std::to_string(kBumps),
                   std::to_string(page + 2048), "3"})));
  }
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(clients[static_cast<size_t>(i)]->wait(90s), 0)
        << clients[static_cast<size_t>(i)]->out() << logs();
    EXPECT_EQ(clients[static_cast<size_t>(i)]->out(), fmt::format("{}\n", kBumps)) << "n" << i;
  }
  for (int reader = 0; reader < 3; ++reader) {
    for (int i = 0; i < 3; ++i) {
      ProcResult r = client(reader, {"get", std::to_string(page + 64 * i)});
      EXPECT_EQ(r.out, fmt::format("{}\n", kBumps)) << "word of n" << i << " read on n" << reader;
    }
  }
  // The page moved between the nodes: it was truly shared.
  uint64_t invalidations = 0;
  for (int i = 0; i < 3; ++i) invalidations += counter(i, "invalidations");
  EXPECT_GT(invalidations, 3u);
}

TEST_P(DsmCluster, CounterUnderADsmLockIsExact) {
  constexpr int kIncrements = 200;
  std::vector<std::unique_ptr<Proc>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<Proc>(
        std::vector<std::string>{PANGAEA_DSM_COUNTER, config_.source + ":" + node(i).name,
                                 std::to_string(kIncrements), "100", "3"}));
  }
  for (auto& c : clients) ASSERT_EQ(c->wait(90s), 0) << c->out() << logs();
  ProcResult total = run_proc({PANGAEA_DSM_COUNTER, config_.source + ":n2", "0"});
  ASSERT_EQ(total.status, 0) << total.out;
  EXPECT_NE(total.out.find(fmt::format("counter {} (added 0", 3 * kIncrements)), std::string::npos)
      << total.out;
}

TEST_P(DsmCluster, WritesBeyondANodesBudgetAreEvictedAndKept) {
  // n0 gives 16 MiB, so it caches at most 4096 frames; a client there
  // writes 6000 (homed on all three nodes), which n0 must write back and
  // drop as it goes.
  constexpr int kFrames = 6000;
  const std::string count = std::to_string(kFrames);
  ProcResult w = client(0, {"fill", "0", count, "77"});
  ASSERT_EQ(w.status, 0) << w.out << logs();
  EXPECT_EQ(counter(0, "budget_frames"), 4096u);
  EXPECT_GT(counter(0, "evictions"), 0u) << logs();
  EXPECT_LE(counter(0, "resident_max"), 4096u) << logs();
  for (int reader : {1, 2, 0}) {
    ProcResult r = client(reader, {"check", "0", count, "77"});
    EXPECT_EQ(r.out, "checked " + count + "\n") << "on n" << reader << logs();
  }
}

INSTANTIATE_TEST_SUITE_P(Nets, DsmCluster, ::testing::Values(Where::kLoopback, Where::kNamespaces),
                         [](const auto& info) {
                           return info.param == Where::kLoopback ? std::string("Loopback")
                                                                 : std::string("Namespaces");
                         });

}  // namespace
}  // namespace itest
