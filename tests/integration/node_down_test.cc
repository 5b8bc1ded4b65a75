// Node failure with real node processes (dsm/PROTOCOLS.md "Node failure"):
// three `pangaea node` processes on loopback serve the guest region
// (msi-home, interleave: frame f is homed on node f % 3); client processes
// (client_helper, dsm::client::attach) read and write it. A node is killed
// with SIGKILL; once the survivors' membership declares it down, their
// regions stop waiting for it:
//  (a) a node that only read a frame dies: the next write to that frame
//      on another node completes (it waited for the dead reader's
//      invalidation ack forever before), and is read back;
//  (b) the home of a frame cached nowhere else dies: a client that touches
//      the frame dies of SIGBUS (never a hang, never zeros), while a frame
//      of the same home cached Shared on a survivor is still readable there;
//  (c) the same when the home is restarted at once, before membership
//      could miss it: its new incarnation is seen at the handshake.

#include <signal.h>
#include <unistd.h>


#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace itest {
namespace {

class NodeDown : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = start_loopback_cluster(dir_, nodes_, "nodedown", "node-down-test-secret", 3, "16MiB",
                                    static_cast<uint16_t>(20000 + (getpid() * 67) % 30000));
    ASSERT_TRUE(c.ok()) << c.error().message();
    config_ = *c;
  }
  void TearDown() override { stop_cluster(nodes_, config_); }

  const node::NodeConfig& node(int i) const { return config_.nodes[static_cast<size_t>(i)]; }
  ProcResult client(int on, std::vector<std::string> args) {
    args.insert(args.begin(), node(on).control);
    args.insert(args.begin(), PANGAEA_CLIENT_HELPER);
    return run_proc(args, 30s);
  }
  ProcResult write(int on, uint64_t frame, const std::string& text) {
    return client(on, {"write", std::to_string(frame * 4096 + 64), text});
  }
  ProcResult read(int on, uint64_t frame, size_t len) {
    return client(on, {"read", std::to_string(frame * 4096 + 64), std::to_string(len)});
  }
  uint64_t counter(int on, const std::string& name) {
    auto s = nodes_.stats(node(on));
    return s.ok() ? s->get("region", name, 0) : 0;
  }
  // SIGKILL node `dead`; waits until the others' regions know (membership
  // declares it dead after Membership::kDeadAfter of silence).
  void kill_and_wait(int dead) {
    nodes_.kill9(node(dead).name);
    ASSERT_TRUE(wait_for(
        [&] {
          for (int i = 0; i < 3; ++i)
            if (i != dead && counter(i, "nodes_down") == 0) return false;
          return true;
        },
        20s))
        << logs();
  }
  std::string logs() { return node_logs(dir_, static_cast<int>(config_.nodes.size())); }
  uint64_t transport_counter(int on, const std::string& name) {
    auto s = nodes_.stats(node(on));
    return s.ok() ? s->get("transport", name, 0) : 0;
  }

  TempDir dir_;
  Nodes nodes_;
  node::ClusterConfig config_;
};

TEST_F(NodeDown, WriteAfterAReaderIsKilledCompletes) {
  // Frame 0 is homed on n0; n2 reads it (its node keeps a Shared copy).
  const std::string first = "written before the reader died";
  ASSERT_EQ(write(0, 0, first).status, 0);
  ProcResult r = read(2, 0, first.size());
  ASSERT_EQ(r.status, 0) << r.out;
  ASSERT_EQ(r.out, first + "\n");
  kill_and_wait(2);
  const std::string second = "written after the reader died!";
  ProcResult w = write(1, 0, second);
  EXPECT_FALSE(w.hung()) << "the write waited for the dead reader\n" << logs();
  EXPECT_EQ(w.status, 0) << w.out;
  for (int on : {0, 1}) {
    ProcResult back = read(on, 0, second.size());
    EXPECT_EQ(back.status, 0) << back.out;
    EXPECT_EQ(back.out, second + "\n") << "read on n" << on;
  }
  // The frames homed on n2 died with it (lost_frames counts them); no
  // access here met one.
  EXPECT_GT(counter(0, "lost_frames"), 0u);
  EXPECT_EQ(counter(0, "failed_faults"), 0u);
  EXPECT_EQ(counter(1, "failed_faults"), 0u);
}

TEST_F(NodeDown, DeadHomesUncachedFrameGivesSigbusCachedOneStaysReadable) {
  // Frames 1 and 4 are homed on n1; n0 reads frame 4 (Shared copy there).
  const std::string text = "frame of n1";
  ASSERT_EQ(write(1, 1, text).status, 0);
  ASSERT_EQ(write(1, 4, text).status, 0);
  ASSERT_EQ(read(0, 4, text.size()).out, text + "\n");
  kill_and_wait(1);
  ProcResult lost = read(2, 1, text.size());
  EXPECT_FALSE(lost.hung()) << logs();
  EXPECT_EQ(lost.signal, SIGBUS) << "exit " << lost.status << ": " << lost.out;
  ProcResult lost0 = read(0, 1, text.size());
  EXPECT_EQ(lost0.signal, SIGBUS) << "exit " << lost0.status << ": " << lost0.out;
  ProcResult kept = read(0, 4, text.size());
  EXPECT_EQ(kept.status, 0) << kept.out;
  EXPECT_EQ(kept.out, text + "\n");
  // Not cached on n2: lost there.
  EXPECT_EQ(read(2, 4, text.size()).signal, SIGBUS);
  EXPECT_GT(counter(2, "lost_frames"), 0u);
  EXPECT_GE(counter(2, "failed_faults"), 2u);
  // Frames homed on the survivors are all there.
  ASSERT_EQ(write(2, 2, text).status, 0);
  EXPECT_EQ(read(0, 2, text.size()).out, text + "\n");
}

TEST_F(NodeDown, HomeRestartedAtOnceIsADeath) {
  // Frames 1 and 4 are homed on n1; n0 reads frame 4 (Shared copy there).
  const std::string text = "frame of n1";
  ASSERT_EQ(write(1, 1, text).status, 0);
  ASSERT_EQ(write(1, 4, text).status, 0);
  ASSERT_EQ(read(0, 4, text.size()).out, text + "\n");
  // Killed and started again right away: its peers never see it silent for
  // long, but the new process holds none of the old one's frames.
  nodes_.kill9(node(1).name);
  nodes_.start(node(1).name, config_.source, dir_.file(node(1).name + ".log"));
  ASSERT_TRUE(wait_for(
      [&] {
        return counter(0, "nodes_down") > 0 && counter(2, "nodes_down") > 0 &&
               nodes_.all_see_each_other(config_, 3);
      },
      20s))
      << logs();
  EXPECT_GE(transport_counter(0, "restarts"), 1u);
  EXPECT_GE(transport_counter(2, "restarts"), 1u);
  // Before: n2 read zeros from n1's new, empty home copy.
  ProcResult lost = read(2, 1, text.size());
  EXPECT_FALSE(lost.hung()) << logs();
  EXPECT_EQ(lost.signal, SIGBUS) << "exit " << lost.status << ": " << lost.out;
  ProcResult kept = read(0, 4, text.size());
  EXPECT_EQ(kept.status, 0) << kept.out;
  EXPECT_EQ(kept.out, text + "\n");
  // The restarted node knows it is one: its own clients get SIGBUS for the
  // frames it homed (not its new, empty home copies)...
  ProcResult own = read(1, 1, text.size());
  EXPECT_EQ(own.signal, SIGBUS) << "exit " << own.status << ": " << own.out;
  EXPECT_GE(counter(1, "nodes_down"), 1u) << "the restart counts its old incarnation";
  // ...and read frames homed on the survivors. The survivors' frames are
  // all there, and the restarted node takes part.
  ASSERT_EQ(write(0, 3, text).status, 0);
  EXPECT_EQ(read(1, 3, text.size()).out, text + "\n");
  ASSERT_EQ(write(1, 2, text).status, 0);
  EXPECT_EQ(read(0, 2, text.size()).out, text + "\n");
}

TEST_F(NodeDown, NodeStoppedUntilDeclaredDeadStopsWhenItWakes) {
  // n2 reads a frame of n0 (so it is in that frame's copyset), then is
  // frozen (SIGSTOP: a stall, a swapped-out VM) until its peers declare it
  // dead. When it wakes it must not rejoin with its old copies: its peers
  // refuse it, and it stops with a clear error. A restart rejoins.
  const std::string text = "read by n2 before it froze";
  ASSERT_EQ(write(0, 0, text).status, 0);
  ASSERT_EQ(read(2, 0, text.size()).out, text + "\n");
  const pid_t frozen = nodes_.pid(node(2).name);
  ASSERT_EQ(::kill(frozen, SIGSTOP), 0);
  ASSERT_TRUE(wait_for([&] { return counter(0, "nodes_down") > 0 && counter(1, "nodes_down") > 0; },
                       20s))
      << logs();
  ASSERT_EQ(::kill(frozen, SIGCONT), 0);
  EXPECT_TRUE(wait_for([&] { return !nodes_.running(node(2).name); }, 20s))
      << "the node declared dead went on\n"
      << logs();
  EXPECT_NE(logs().find("declared this process dead"), std::string::npos) << logs();
  // The survivors go on: a write to the frame n2 had cached completes.
  const std::string second = "written after n2 was fenced";
  ProcResult w = write(1, 0, second);
  EXPECT_EQ(w.status, 0) << w.out << logs();
  EXPECT_EQ(read(0, 0, second.size()).out, second + "\n");
  // Started again, it is a new incarnation and takes part.
  nodes_.start(node(2).name, config_.source, dir_.file(node(2).name + ".log"));
  ASSERT_TRUE(wait_for([&] { return nodes_.all_see_each_other(config_, 3); }, 20s)) << logs();
  EXPECT_EQ(read(2, 0, second.size()).out, second + "\n");
}

}  // namespace
}  // namespace itest
