#include "tools/cluster_view.h"

#include <gtest/gtest.h>

namespace tools {
namespace {

using rpc::control::NodeStatusInfo;
using rpc::control::PeerInfo;

node::ClusterConfig three_nodes() {
  node::ClusterConfig c;
  c.name = "lab";
  for (int i = 0; i < 3; ++i) {
    node::NodeConfig n;
    n.name = "n" + std::to_string(i);
    n.host = "127.0.0.1";
    n.port = static_cast<uint16_t>(7700 + 2 * i);
    c.nodes.push_back(n);
  }
  return c;
}

// n's answer, seeing the nodes in `up` up with RTT 100 us.
NodeStatusInfo answer(const std::string& self, std::vector<std::string> up) {
  NodeStatusInfo s;
  s.cluster = "lab";
  s.name = self;
  s.memory_given = 64 << 20;
  s.memory_used = 4096;
  for (const char* n : {"n0", "n1", "n2"}) {
    bool is_self = self == n;
    bool is_up = is_self || std::find(up.begin(), up.end(), n) != up.end();
    s.peers.push_back(PeerInfo{n, "", is_self, is_up, is_self ? 0u : 100u, 0, 0, 0});
  }
  return s;
}

TEST(ClusterView, AllUp) {
  std::vector<base::StatusOr<NodeStatusInfo>> a;
  a.push_back(answer("n0", {"n1", "n2"}));
  a.push_back(answer("n1", {"n0", "n2"}));
  a.push_back(answer("n2", {"n0", "n1"}));
  ClusterView v = build_view(three_nodes(), std::move(a));
  EXPECT_TRUE(v.all_up());
  EXPECT_EQ(v.rows[1].address, "127.0.0.1:7702");
  EXPECT_EQ(v.rows[1].peers_up, 2);
  EXPECT_EQ(v.rows[1].rtt_us, 100u);
  std::string table = format_cluster_table(v);
  EXPECT_NE(table.find("cluster lab: 3 of 3 nodes up"), std::string::npos) << table;
  EXPECT_NE(table.find("64 MiB"), std::string::npos) << table;
  EXPECT_NE(table.find("100us"), std::string::npos) << table;
}

TEST(ClusterView, SilentNodeIsDown) {
  std::vector<base::StatusOr<NodeStatusInfo>> a;
  a.push_back(answer("n0", {"n1"}));
  a.push_back(answer("n1", {"n0"}));
  a.push_back(base::Error("connection refused"));
  ClusterView v = build_view(three_nodes(), std::move(a));
  EXPECT_EQ(v.rows[2].state(), "down");
  EXPECT_EQ(v.rows[2].error, "connection refused");
  EXPECT_EQ(v.rows[0].state(), "up");
  EXPECT_EQ(v.up(), 2);
  EXPECT_FALSE(v.all_up());
}

TEST(ClusterView, RefusedNodeIsIsolatedAndDoesNotTaintOthers) {
  // n2 answers its control plane but n0 and n1 refuse it (a wrong secret).
  std::vector<base::StatusOr<NodeStatusInfo>> a;
  a.push_back(answer("n0", {"n1"}));
  a.push_back(answer("n1", {"n0"}));
  a.push_back(answer("n2", {}));
  ClusterView v = build_view(three_nodes(), std::move(a));
  EXPECT_EQ(v.rows[0].state(), "up");  // seen up by n1, the majority
  EXPECT_EQ(v.rows[1].state(), "up");
  EXPECT_EQ(v.rows[2].state(), "isolated");
  EXPECT_EQ(v.rows[2].rtt_us, 0u);
  EXPECT_NE(format_cluster_table(v).find("2 of 3 nodes up"), std::string::npos);
}

TEST(ClusterView, SplitOpinionIsPartial) {
  std::vector<base::StatusOr<NodeStatusInfo>> a;
  a.push_back(answer("n0", {"n1", "n2"}));
  a.push_back(answer("n1", {"n0"}));  // n1 cannot reach n2
  a.push_back(answer("n2", {"n0"}));
  ClusterView v = build_view(three_nodes(), std::move(a));
  EXPECT_EQ(v.rows[2].state(), "partial");
  EXPECT_EQ(v.rows[1].state(), "partial");
  EXPECT_EQ(v.rows[0].state(), "up");
}

TEST(ClusterView, Rtt) {
  EXPECT_EQ(format_rtt(0), "-");
  EXPECT_EQ(format_rtt(85), "85us");
  EXPECT_EQ(format_rtt(12500), "12.5ms");
}

}  // namespace
}  // namespace tools
