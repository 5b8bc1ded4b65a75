// The DSM research API with real `pangaea node` processes (3 on loopback):
// ordinary processes attach the guest region of their local node
// (dsm/client/client.h) and see each other's writes across nodes; the
// example examples/dsm_counter runs on every node under a DSM lock; a client
// killed with kill -9 leaves its node healthy; refused clients get clear
// errors. The client processes are tests/integration/client_helper.cc and
// the example itself.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace itest {
namespace {

bool contains(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

// A child process whose stdout and stderr come through one pipe.
class Proc {
 public:
  explicit Proc(const std::vector<std::string>& args) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return;
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      dup2(fds[1], 1);
      dup2(fds[1], 2);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(fds[1]);
    out_fd_ = fds[0];
  }
  ~Proc() {
    if (pid_ > 0) kill9();
    if (out_fd_ >= 0) close(out_fd_);
  }

  // Reads output until `what` appears, EOF, or the timeout.
  bool wait_for_output(const std::string& what, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (!contains(out_, what)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      pollfd p{out_fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      ssize_t n = read(out_fd_, buf, sizeof(buf));
      if (n <= 0) return contains(out_, what);
      out_.append(buf, static_cast<size_t>(n));
    }
    return true;
  }
  // Waits for the exit (killing it after `timeout`); the exit status or -1.
  int wait(std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    wait_for_output("\x01never\x01", timeout);  // drains output until EOF
    int status = 0;
    // The pipe closes a moment before the process can be reaped.
    bool exited = wait_for(
        [&] { return waitpid(pid_, &status, WNOHANG) == pid_; },
        std::max(std::chrono::milliseconds(100),
                 std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now())));
    if (!exited) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
      return -1;
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  void kill9() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  const std::string& out() const { return out_; }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string out_;
};

struct Ran {
  int status;
  std::string out;
};
Ran run(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 60s) {
  Proc p(args);
  int status = p.wait(timeout);
  return {status, p.out()};
}

class DsmClient : public ::testing::Test {
 protected:
  void SetUp() override {
    uint16_t base = static_cast<uint16_t>(20000 + (getpid() * 53) % 30000);
    std::string text = "[cluster]\nname = \"clients\"\nsecret = \"client-test-secret\"\n";
    for (int i = 0, p = base; i < 3 && p < 65000; p += 2) {
      if (!tcp_port_free(static_cast<uint16_t>(p)) || !tcp_port_free(static_cast<uint16_t>(p + 1)))
        continue;
      text += fmt::format(
          "[[node]]\nname = \"n{}\"\naddress = \"127.0.0.1:{}\"\nmemory = "
          "\"16MiB\"\n",
          i++, p);
    }
    dir_.write("cluster.toml", text);
    auto c = node::load_config(dir_.file("cluster.toml"));
    ASSERT_TRUE(c.ok()) << c.error().message();
    config_ = *c;
    for (const auto& n : config_.nodes)
      nodes_.start(n.name, config_.source, dir_.file(n.name + ".log"));
    ASSERT_TRUE(wait_for(
        [&] {
          for (const auto& a : config_.nodes)
            for (const auto& b : config_.nodes)
              if (a.name != b.name && !nodes_.sees_up(a, b.name)) return false;
          return true;
        },
        20s))
        << logs();
  }

  // Stopped cleanly, so the nodes remove their sockets from /tmp.
  void TearDown() override {
    for (const auto& n : config_.nodes) {
      if (nodes_.running(n.name)) nodes_.terminate(n.name);
    }
  }

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
    Ran w = run(helper(0, {"write", std::to_string(f * 4096 + 100), text}));
    ASSERT_EQ(w.status, 0) << w.out << logs();
    for (int reader : {1, 2}) {
      Ran r = run(
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
  Ran total = run({PANGAEA_DSM_COUNTER, config_.source + ":n1", "0"});
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
  Ran w = run(helper(0, {"write", "40960", "after the kill"}));
  ASSERT_EQ(w.status, 0) << w.out << logs();
  Ran r = run(helper(2, {"read", "40960", "14"}));
  EXPECT_EQ(r.out, "after the kill\n") << logs();
  Ran r1 = run(helper(1, {"read", "40960", "14"}));
  EXPECT_EQ(r1.out, "after the kill\n") << logs();
  EXPECT_EQ(counter(0, "region", "fetch_errors"), 0u);
}

TEST_F(DsmClient, RefusedClientsGetClearErrors) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run a client as another user";
  // Another user: the socket's mode (0600) stops it.
  Ran other = run({PANGAEA_CLIENT_HELPER, "--uid", "65534", control(0), "read", "0", "1"});
  EXPECT_EQ(other.status, 1) << other.out;
  EXPECT_TRUE(
      contains(other.out, "attach failed: errno 13: attach socket /tmp/pangaea-attach-127.0.0.1-"))
      << other.out;
  EXPECT_TRUE(contains(other.out, "only the node's user (and root) may attach")) << other.out;

  // Another user that gets past the file mode: the node's SO_PEERCRED check.
  Ran sneaky =
      run({PANGAEA_CLIENT_HELPER, "--uid", "65534", "--keep-dac", control(0), "read", "0", "1"});
  EXPECT_EQ(sneaky.status, 1) << sneaky.out;
  EXPECT_TRUE(contains(sneaky.out, "errno 13: "));
  EXPECT_TRUE(contains(sneaky.out, "uid 65534 may not use this node's attach socket"))
      << sneaky.out;

  // A region the node does not serve.
  Ran name = run({PANGAEA_CLIENT_HELPER, "--region", "nope", control(1), "read", "0", "1"});
  EXPECT_EQ(name.status, 1);
  EXPECT_TRUE(contains(name.out, "errno 2: "));
  EXPECT_TRUE(contains(name.out, "node n1 serves no region named \"nope\" (regions: guest)"))
      << name.out;

  // No node there.
  Ran none = run({PANGAEA_CLIENT_HELPER, "127.0.0.1:1", "read", "0", "1"});
  EXPECT_EQ(none.status, 1);
  EXPECT_TRUE(contains(none.out, "is the node running?")) << none.out;

  // The node counted the refusals and is fine.
  EXPECT_GE(counter(1, "clients", "refused"), 1u);
  EXPECT_EQ(counter(0, "clients", "attached"), 0u);
  Ran ok = run(helper(0, {"write", "0", "still fine"}));
  EXPECT_EQ(ok.status, 0) << ok.out;
}

}  // namespace
}  // namespace itest
