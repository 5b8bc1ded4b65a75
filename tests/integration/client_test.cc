// The DSM research API with real `pangaea node` processes (3 on loopback):
// ordinary processes attach the guest region of their local node
// (dsm/client/client.h) and see each other's writes across nodes; the
// example examples/dsm_counter runs on every node under a DSM lock; a client
// killed with kill -9 leaves its node healthy; refused clients get clear
// errors. The client processes are tests/integration/client_helper.cc and
// the example itself.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace itest {
namespace {

bool contains(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

class DsmClient : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = start_loopback_cluster(dir_, nodes_, "clients", "client-test-secret", 3, "16MiB",
                                    static_cast<uint16_t>(20000 + (getpid() * 53) % 30000));
    ASSERT_TRUE(c.ok()) << c.error().message();
    config_ = *c;
  }
  void TearDown() override { stop_cluster(nodes_, config_); }

  const std::string& control(int i) const { return config_.nodes[static_cast<size_t>(i)].control; }
  const node::NodeConfig& node_config(int i) const { return config_.nodes[static_cast<size_t>(i)]; }

  std::vector<std::string> helper(int node, std::vector<std::string> args) {
    args.insert(args.begin(), control(node));
    args.insert(args.begin(), PANGAEA_CLIENT_HELPER);
    return args;
  }

  uint64_t counter(int node, const std::string& group, const std::string& name) {
    auto s = nodes_.stats(node_config(node));
    return s.ok() ? s->get(group, name, ~0ull) : ~0ull;
  }

  std::string logs() { return node_logs(dir_, static_cast<int>(config_.nodes.size())); }

  TempDir dir_;
  Nodes nodes_;
  node::ClusterConfig config_;
};

TEST_F(DsmClient, WrittenOnOneNodeIsReadOnTheOthers) {
  // Frames 0..5: interleaved over the three nodes, so every home serves.
  for (int f = 0; f < 6; ++f) {
    std::string text = fmt::format("frame {} written by a client of n0", f);
    ProcResult w = run_proc(helper(0, {"write", std::to_string(f * 4096 + 100), text}));
    ASSERT_EQ(w.status, 0) << w.out << logs();
    for (int reader : {1, 2}) {
      ProcResult r = run_proc(
          helper(reader, {"read", std::to_string(f * 4096 + 100), std::to_string(text.size())}));
      ASSERT_EQ(r.status, 0) << r.out << logs();
      EXPECT_EQ(r.out, text + "\n") << "read on n" << reader;
    }
  }
  // The readers' nodes fetched pages; every client detached when it exited.
  for (int i = 0; i < 3; ++i) {
    EXPECT_GT(counter(i, "region", "grants_received"), 0u) << "n" << i;
    EXPECT_EQ(counter(i, "clients", "attached"), 0u) << "n" << i;
    EXPECT_GT(counter(i, "clients", "attaches"), 0u) << "n" << i;
  }
}

TEST_F(DsmClient, CounterUnderADsmLockFromThreeNodesIsExact) {
  constexpr int kIncrements = 500;
  std::vector<std::unique_ptr<Proc>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<Proc>(std::vector<std::string>{
        PANGAEA_DSM_COUNTER, control(i), std::to_string(kIncrements), "100", "3"}));
  }
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(clients[static_cast<size_t>(i)]->wait(90s), 0)
        << clients[static_cast<size_t>(i)]->out() << logs();
  }
  // Read under the lock from a fourth client, through a config file this time.
  ProcResult total = run_proc({PANGAEA_DSM_COUNTER, config_.source + ":n1", "0"});
  ASSERT_EQ(total.status, 0) << total.out;
  EXPECT_TRUE(contains(total.out, fmt::format("counter {} (added 0 on node n1", 3 * kIncrements)))
      << total.out;
  EXPECT_TRUE(contains(total.out, "read_misses")) << total.out;  // the region's stats
}

TEST_F(DsmClient, ClientKilledWhileAttachedLeavesTheNodeHealthy) {
  // Two clients on two nodes write the same pages in a loop, so the pages
  // keep moving and faults are in flight when one is killed.
  Proc a(helper(0, {"churn", "40960", "8"}));
  Proc b(helper(1, {"churn", "40960", "8"}));
  ASSERT_TRUE(a.wait_for_output("attached", 30s)) << a.out() << logs();
  ASSERT_TRUE(b.wait_for_output("attached", 30s)) << b.out() << logs();
  EXPECT_EQ(counter(0, "clients", "attached"), 1u);
  std::this_thread::sleep_for(200ms);  // let the pages bounce a while
  a.kill9();
  // n0 noticed the connection close and dropped the attachment.
  EXPECT_TRUE(wait_for([&] { return counter(0, "clients", "attached") == 0; }, 10s)) << logs();
  EXPECT_EQ(counter(0, "clients", "detaches"), 1u);
  b.kill9();
  EXPECT_TRUE(wait_for([&] { return counter(1, "clients", "attached") == 0; }, 10s)) << logs();
  // Both nodes run, see each other, and serve those pages to new clients.
  EXPECT_TRUE(nodes_.running("n0"));
  EXPECT_TRUE(nodes_.running("n1"));
  EXPECT_TRUE(nodes_.sees_up(node_config(0), "n1"));
  EXPECT_TRUE(nodes_.sees_up(node_config(2), "n0"));
  ProcResult w = run_proc(helper(0, {"write", "40960", "after the kill"}));
  ASSERT_EQ(w.status, 0) << w.out << logs();
  ProcResult r = run_proc(helper(2, {"read", "40960", "14"}));
  EXPECT_EQ(r.out, "after the kill\n") << logs();
  ProcResult r1 = run_proc(helper(1, {"read", "40960", "14"}));
  EXPECT_EQ(r1.out, "after the kill\n") << logs();
  EXPECT_EQ(counter(0, "region", "fetch_errors"), 0u);
}

TEST_F(DsmClient, RefusedClientsGetClearErrors) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run a client as another user";
  // Another user: the socket's mode (0600) stops it.
  ProcResult other =
      run_proc({PANGAEA_CLIENT_HELPER, "--uid", "65534", control(0), "read", "0", "1"});
  EXPECT_EQ(other.status, 1) << other.out;
  EXPECT_TRUE(
      contains(other.out, "attach failed: errno 13: attach socket /tmp/pangaea-attach-127.0.0.1-"))
      << other.out;
  EXPECT_TRUE(contains(other.out, "only the node's user (and root) may attach")) << other.out;

  // Another user that gets past the file mode: the node's SO_PEERCRED check.
  ProcResult sneaky = run_proc(
      {PANGAEA_CLIENT_HELPER, "--uid", "65534", "--keep-dac", control(0), "read", "0", "1"});
  EXPECT_EQ(sneaky.status, 1) << sneaky.out;
  EXPECT_TRUE(contains(sneaky.out, "errno 13: "));
  EXPECT_TRUE(contains(sneaky.out, "uid 65534 may not use this node's attach socket"))
      << sneaky.out;

  // A region the node does not serve.
  ProcResult name =
      run_proc({PANGAEA_CLIENT_HELPER, "--region", "nope", control(1), "read", "0", "1"});
  EXPECT_EQ(name.status, 1);
  EXPECT_TRUE(contains(name.out, "errno 2: "));
  EXPECT_TRUE(contains(name.out, "node n1 serves no region named \"nope\" (regions: guest)"))
      << name.out;

  // No node there.
  ProcResult none = run_proc({PANGAEA_CLIENT_HELPER, "127.0.0.1:1", "read", "0", "1"});
  EXPECT_EQ(none.status, 1);
  EXPECT_TRUE(contains(none.out, "is the node running?")) << none.out;

  // The node counted the refusals and is fine.
  EXPECT_GE(counter(1, "clients", "refused"), 1u);
  EXPECT_EQ(counter(0, "clients", "attached"), 0u);
  ProcResult ok = run_proc(helper(0, {"write", "0", "still fine"}));
  EXPECT_EQ(ok.status, 0) << ok.out;
}

}  // namespace
}  // namespace itest
