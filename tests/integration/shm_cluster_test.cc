// Real `pangaea node` processes on one host joined by libfabric's shm
// provider (rpc/PROTOCOL.md, "Addresses"; docs/shm-provider.md): the cluster
// forms, a node killed with SIGKILL is seen down and rejoins when restarted
// (its segment is left behind and must be replaced; its peers must map the
// new one), a wrong secret is refused, SIGTERM removes the segments, and a
// config that spreads shm nodes over hosts is refused.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace itest {
namespace {

constexpr auto kFormWithin = 15s;

class ShmCluster : public ::testing::Test {
 protected:
  // `count` nodes on 127.0.0.1 with provider shm; the control plane (TCP,
  // port + 1) needs a free port, the data plane only a name.
  node::ClusterConfig write_config(const std::string& file, int count, const std::string& secret) {
    if (ports_.empty()) {
      uint16_t p = static_cast<uint16_t>(21000 + (getpid() * 41) % 28000);
      for (; static_cast<int>(ports_.size()) < count && p < 64000; p += 2) {
        if (tcp_port_free(p + 1) && access(segment(p).c_str(), F_OK) != 0) ports_.push_back(p);
      }
    }
    std::string text =
        fmt::format("[cluster]\nname = \"shmtest\"\nsecret = \"{}\"\nprovider = \"shm\"\n", secret);
    for (int i = 0; i < count; ++i) {
      text +=
          fmt::format("[[node]]\nname = \"n{}\"\naddress = \"127.0.0.1:{}\"\nmemory = \"16MiB\"\n",
                      i, ports_[static_cast<size_t>(i)]);
    }
    dir_.write(file, text);
    auto c = node::load_config(dir_.file(file));
    if (!c.ok()) ADD_FAILURE() << c.error().message();
    return c.ok() ? *c : node::ClusterConfig{};
  }

  static std::string segment(uint16_t port) {
    return fmt::format("/dev/shm/pangaea-127.0.0.1-{}", port);
  }
  std::string segment_of(int i) const { return segment(ports_[static_cast<size_t>(i)]); }

  void start(const node::ClusterConfig& c, int i) {
    const auto& n = c.nodes[static_cast<size_t>(i)];
    nodes_.start(n.name, c.source, dir_.file(n.name + ".log"));
  }

  // Removes segments left by nodes the test killed; destroyed after nodes_
  // (which SIGKILLs whatever still runs).
  struct SegmentReaper {
    const std::vector<uint16_t>& ports;
    ~SegmentReaper() {
      for (uint16_t p : ports) unlink(segment(p).c_str());
    }
  };

  std::vector<uint16_t> ports_;
  SegmentReaper reaper_{ports_};
  TempDir dir_;
  Nodes nodes_;
};

TEST_F(ShmCluster, FormsDetectsDeathAndRejoinsAfterSigkill) {
  auto config = write_config("cluster.toml", 3, "the-secret");
  ASSERT_EQ(config.nodes.size(), 3u);
  for (int i = 0; i < 3; ++i) start(config, i);
  ASSERT_TRUE(wait_for([&] { return nodes_.all_see_each_other(config, 3); }, kFormWithin))
      << "membership did not form over shm\n"
      << node_logs(dir_, 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(access(segment_of(i).c_str(), F_OK), 0) << segment_of(i);

  RunResult st = run_pangaea({"status", "--config", config.source});
  EXPECT_EQ(st.status, 0) << st.out << st.err;
  EXPECT_NE(st.out.find("3 of 3 nodes up"), std::string::npos) << st.out;

  // SIGKILL leaves n2's segment behind; the others see it down.
  nodes_.kill9("n2");
  ASSERT_TRUE(wait_for(
      [&] {
        return nodes_.sees_down(config.nodes[0], "n2") && nodes_.sees_down(config.nodes[1], "n2");
      },
      5s))
      << "n2 never seen down\n"
      << node_logs(dir_, 3);
  EXPECT_EQ(access(segment_of(2).c_str(), F_OK), 0) << "a killed node's segment stays";
  EXPECT_TRUE(nodes_.sees_up(config.nodes[0], "n1"));

  // Restarted, n2 replaces its stale segment and the others map the new one.
  start(config, 2);
  ASSERT_TRUE(wait_for([&] { return nodes_.all_see_each_other(config, 3); }, kFormWithin))
      << "n2 did not rejoin over shm\n"
      << node_logs(dir_, 3);

  // SIGTERM: clean stops remove every segment.
  for (const char* n : {"n0", "n1", "n2"})
    EXPECT_EQ(nodes_.terminate(n), 0) << n << "\n" << node_logs(dir_, 3);
  for (int i = 0; i < 3; ++i)
    EXPECT_NE(access(segment_of(i).c_str(), F_OK), 0) << segment_of(i) << " left after SIGTERM";
}

TEST_F(ShmCluster, WrongSecretIsRefused) {
  auto good = write_config("cluster.toml", 3, "the-secret");
  auto bad = write_config("intruder.toml", 3, "not-the-secret");
  ASSERT_EQ(good.nodes.size(), 3u);
  for (int i = 0; i < 2; ++i) start(good, i);
  start(bad, 2);  // n2 believes in another secret
  ASSERT_TRUE(wait_for([&] { return nodes_.all_see_each_other(good, 2); }, kFormWithin))
      << node_logs(dir_, 3);
  auto until = Clock::now() + 2s;
  while (Clock::now() < until) {
    for (int i = 0; i < 2; ++i) {
      ASSERT_FALSE(nodes_.sees_up(good.nodes[static_cast<size_t>(i)], "n2"))
          << "n" << i << " accepted n2\n"
          << node_logs(dir_, 3);
    }
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(nodes_.running("n2"));
  EXPECT_TRUE(nodes_.all_see_each_other(good, 2));
  const uint64_t refused = nodes_.refusals_of(good, "n2", 3);
  EXPECT_GT(refused, 0u) << node_logs(dir_, 3);
}

TEST_F(ShmCluster, NodesOnTwoHostsAreRefused) {
  dir_.write("cluster.toml",
             "[cluster]\nname = \"x\"\nsecret = \"s\"\nprovider = \"shm\"\n"
             "[[node]]\nname = \"n0\"\naddress = \"127.0.0.1:7700\"\nmemory = \"16MiB\"\n"
             "[[node]]\nname = \"n1\"\naddress = \"10.0.0.2:7700\"\nmemory = \"16MiB\"\n");
  RunResult r = run_pangaea({"node", "--config", dir_.file("cluster.toml"), "--name", "n0"});
  EXPECT_EQ(r.status, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("node[1].address: provider \"shm\" joins nodes on one host only"),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace itest
