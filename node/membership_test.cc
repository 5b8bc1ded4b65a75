#include "node/membership.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include <unistd.h>

#include "rpc/fabric_transport.h"
#include "rpc/loopback_transport.h"

namespace node {
namespace {

ClusterConfig three_nodes() {
  ClusterConfig c;
  c.name = "test";
  c.secret = "s";
  for (int i = 0; i < 3; ++i) {
    NodeConfig n;
    n.name = "n" + std::to_string(i);
    n.host = "127.0.0.1";
    n.port = static_cast<uint16_t>(7700 + i);
    n.memory = (i + 1) * (uint64_t{1} << 20);
    c.nodes.push_back(n);
  }
  return c;
}

struct Node {
  std::unique_ptr<rpc::Transport> transport;
  std::unique_ptr<Membership> membership;
};

Node start(rpc::LoopbackNetwork& net, const ClusterConfig& c, int i, std::string_view secret) {
  Node n;
  n.transport = net.attach(i, secret).value();
  auto m = Membership::Create(c, i, *n.transport, [i] { return uint64_t(4096) * (i + 1); });
  EXPECT_TRUE(m.ok());
  n.membership = std::move(m).value();
  return n;
}

void stop(Node& n) {
  n.membership.reset();  // before the transport it uses
  n.transport.reset();
}

bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

bool sees(const Node& n, int peer, bool up) { return n.membership->snapshot()[peer].up == up; }

// What a PeerChange callback was told, in order.
struct Changes {
  std::mutex mu;
  std::vector<std::pair<int, bool>> seen;
  Membership::PeerChange callback() {
    return [this](int node, bool up) {
      std::lock_guard lock(mu);
      seen.emplace_back(node, up);
    };
  }
  size_t count() {
    std::lock_guard lock(mu);
    return seen.size();
  }
  std::pair<int, bool> at(size_t i) {
    std::lock_guard lock(mu);
    return seen.at(i);
  }
};

// n0, n1, n2 on `net`; n0 reports to `changes`.
std::vector<Node> three_with_observer(rpc::LoopbackNetwork& net, const ClusterConfig& c,
                                      Changes& changes) {
  std::vector<Node> nodes;
  for (int i = 0; i < 3; ++i) {
    Node n;
    n.transport = net.attach(i, "s").value();
    n.membership = Membership::Create(c, i, *n.transport, nullptr,
                                      i == 0 ? changes.callback() : Membership::PeerChange{})
                       .value();
    nodes.push_back(std::move(n));
  }
  return nodes;
}

TEST(Membership, FormsGoesDownAndComesBack) {
  auto c = three_nodes();
  rpc::LoopbackNetwork net({"n0", "n1", "n2"});
  std::vector<Node> nodes;
  for (int i = 0; i < 3; ++i) nodes.push_back(start(net, c, i, "s"));

  ASSERT_TRUE(wait_until(
      [&] {
        for (auto& n : nodes)
          for (int p = 0; p < 3; ++p)
            if (!sees(n, p, true)) return false;
        return true;
      },
      std::chrono::seconds(3)));
  auto snap = nodes[0].membership->snapshot();
  ASSERT_EQ(snap.size(), 3u);
  EXPECT_TRUE(snap[0].self);
  EXPECT_EQ(snap[0].name, "n0");
  EXPECT_EQ(snap[1].address, "127.0.0.1:7701");
  EXPECT_EQ(snap[2].memory_given, 3u << 20);
  EXPECT_TRUE(wait_until([&] { return nodes[0].membership->snapshot()[2].memory_used == 3 * 4096; },
                         std::chrono::seconds(1)));
  EXPECT_TRUE(wait_until([&] { return nodes[0].membership->snapshot()[1].rtt_us > 0; },
                         std::chrono::seconds(1)));

  // n2 dies: both others see it down within 2 s.
  stop(nodes[2]);
  auto died = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_until([&] { return sees(nodes[0], 2, false) && sees(nodes[1], 2, false); },
                         std::chrono::seconds(3)));
  EXPECT_LT(std::chrono::steady_clock::now() - died, std::chrono::seconds(2));
  EXPECT_TRUE(sees(nodes[0], 1, true));

  // It restarts: up again everywhere, re-authenticated.
  nodes[2] = start(net, c, 2, "s");
  ASSERT_TRUE(wait_until(
      [&] {
        return sees(nodes[0], 2, true) && sees(nodes[1], 2, true) && sees(nodes[2], 0, true) &&
               sees(nodes[2], 1, true);
      },
      std::chrono::seconds(3)));
  EXPECT_TRUE(nodes[0].transport->authenticated(2));
  for (auto& n : nodes) stop(n);
}

// The PeerChange callback: a dead peer (silent for kDeadAfter, after it was
// heard) is reported once, and its return once; the first "up" of a peer
// and a short "down" are not reported.
TEST(Membership, ReportsDeathAndReturnToTheCallback) {
  auto c = three_nodes();
  rpc::LoopbackNetwork net({"n0", "n1", "n2"});
  Changes changes;
  std::vector<Node> nodes = three_with_observer(net, c, changes);
  ASSERT_TRUE(wait_until([&] { return sees(nodes[0], 1, true) && sees(nodes[0], 2, true); },
                         std::chrono::seconds(3)));
  EXPECT_EQ(changes.count(), 0u) << "a first up is no return";
  stop(nodes[2]);
  ASSERT_TRUE(wait_until([&] { return changes.count() == 1; }, std::chrono::seconds(6)));
  EXPECT_EQ(changes.at(0), std::make_pair(2, false));
  nodes[2] = start(net, c, 2, "s");
  ASSERT_TRUE(wait_until([&] { return changes.count() == 2; }, std::chrono::seconds(3)));
  EXPECT_EQ(changes.at(1), std::make_pair(2, true));
  for (auto& n : nodes) stop(n);
  EXPECT_EQ(changes.count(), 2u);
}

TEST(Membership, QuickRestartIsReportedAsDeathAndReturn) {
  // n2 dies and comes back before anyone could miss it: no silence, but its
  // new incarnation holds nothing, so the callback must hear of the death.
  auto c = three_nodes();
  rpc::LoopbackNetwork net({"n0", "n1", "n2"});
  Changes changes;
  std::vector<Node> nodes = three_with_observer(net, c, changes);
  ASSERT_TRUE(wait_until([&] { return sees(nodes[0], 2, true) && sees(nodes[2], 0, true); },
                         std::chrono::seconds(3)));
  stop(nodes[2]);
  // The new n2 learns from its peers that it is a restart: (2, false) once.
  std::atomic<int> told{0};
  nodes[2].transport = net.attach(2, "s").value();
  nodes[2].membership =
      Membership::Create(c, 2, *nodes[2].transport, nullptr, [&](int node, bool up) {
        if (node == 2 && !up) told++;
      }).value();
  ASSERT_TRUE(wait_until([&] { return changes.count() >= 2 && told > 0; },
                         std::chrono::seconds(6)));
  EXPECT_EQ(changes.at(0), std::make_pair(2, false));
  EXPECT_EQ(changes.at(1), std::make_pair(2, true));
  EXPECT_EQ(nodes[0].transport->peer_counters(2).restarts, 1u);
  EXPECT_TRUE(sees(nodes[0], 2, true));
  for (auto& n : nodes) stop(n);
  EXPECT_EQ(changes.count(), 2u);
  EXPECT_EQ(told, 1);
}

TEST(Membership, PeerDeclaredDeadIsFencedWhenItReturns) {
  // n2 is cut off (a stall, a partition) until n0 declares it dead, then
  // joins again as the same process: n0 must not take it back (it gave up
  // what n2 held), and n2 is told, so it can stop.
  auto c = three_nodes();
  rpc::LoopbackNetwork net({"n0", "n1", "n2"});
  Changes changes;
  std::atomic<int> fenced_by{-1};
  std::vector<Node> nodes(3);
  for (int i = 0; i < 3; ++i) nodes[i].transport = net.attach(i, "s").value();
  nodes[0].membership =
      Membership::Create(c, 0, *nodes[0].transport, nullptr, changes.callback()).value();
  nodes[1].membership = Membership::Create(c, 1, *nodes[1].transport, nullptr).value();
  nodes[2].membership = Membership::Create(c, 2, *nodes[2].transport, nullptr, {}, [&](int by) {
                          fenced_by = by;
                        }).value();
  ASSERT_TRUE(wait_until([&] { return sees(nodes[0], 2, true) && sees(nodes[2], 0, true); },
                         std::chrono::seconds(3)));
  net.set_isolated(2, true);
  ASSERT_TRUE(wait_until([&] { return changes.count() >= 1; }, std::chrono::seconds(8)));
  EXPECT_EQ(changes.at(0), std::make_pair(2, false));
  net.set_isolated(2, false);
  ASSERT_TRUE(wait_until([&] { return fenced_by >= 0; }, std::chrono::seconds(5)));
  EXPECT_EQ(fenced_by, 0);
  // n0 keeps it out: a second of heartbeats later it is still down, and
  // its return was never reported.
  std::this_thread::sleep_for(Membership::kDownAfter);
  EXPECT_TRUE(sees(nodes[0], 2, false));
  EXPECT_EQ(changes.count(), 1u);
  EXPECT_GE(nodes[0].transport->peer_counters(2).fenced, 1u);
  // n1, which declared nothing (no callback), talks to it as before.
  EXPECT_TRUE(wait_until([&] { return sees(nodes[1], 2, true); }, std::chrono::seconds(3)));
  for (auto& n : nodes) stop(n);
}

TEST(Membership, WrongSecretNodeStaysDown) {
  auto c = three_nodes();
  rpc::LoopbackNetwork net({"n0", "n1", "n2"});
  std::vector<Node> nodes;
  nodes.push_back(start(net, c, 0, "s"));
  nodes.push_back(start(net, c, 1, "s"));
  nodes.push_back(start(net, c, 2, "not the secret"));
  ASSERT_TRUE(wait_until([&] { return sees(nodes[0], 1, true) && sees(nodes[1], 0, true); },
                         std::chrono::seconds(3)));
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_FALSE(sees(nodes[0], 2, true));
  EXPECT_FALSE(sees(nodes[2], 0, true));
  EXPECT_GT(nodes[0].membership->snapshot()[2].rejected, 0u);
  for (auto& n : nodes) stop(n);
}

// The same over real libfabric endpoints (tcp;ofi_rxm on 127.0.0.1): a
// destroyed endpoint is a dead process, a new one on the same port a restart.
TEST(Membership, OverFabricNodeDiesAndReturns) {
  auto c = three_nodes();
  uint16_t base = static_cast<uint16_t>(33000 + (getpid() % 1000) * 4);
  for (int i = 0; i < 3; ++i) c.nodes[i].port = static_cast<uint16_t>(base + i);
  auto start_fabric = [&](int i) {
    Node n;
    auto t = rpc::FabricTransport::Create(c, i);
    EXPECT_TRUE(t.ok()) << t.error().message();
    if (!t.ok()) return n;
    n.transport = std::move(t).value();
    n.membership = Membership::Create(c, i, *n.transport, nullptr).value();
    return n;
  };
  std::vector<Node> nodes;
  for (int i = 0; i < 3; ++i) nodes.push_back(start_fabric(i));
  for (auto& n : nodes) ASSERT_TRUE(n.membership);
  auto all_up = [&] {
    for (auto& n : nodes)
      for (int p = 0; p < 3; ++p)
        if (!sees(n, p, true)) return false;
    return true;
  };
  ASSERT_TRUE(wait_until(all_up, std::chrono::seconds(5)));

  stop(nodes[1]);
  auto died = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_until([&] { return sees(nodes[0], 1, false) && sees(nodes[2], 1, false); },
                         std::chrono::seconds(3)));
  EXPECT_LT(std::chrono::steady_clock::now() - died, std::chrono::seconds(2));
  // The survivors never lost each other (a dead peer must not stall the rest).
  EXPECT_TRUE(sees(nodes[0], 2, true));
  EXPECT_TRUE(sees(nodes[2], 0, true));

  nodes[1] = start_fabric(1);
  ASSERT_TRUE(nodes[1].membership);
  EXPECT_TRUE(wait_until(all_up, std::chrono::seconds(5)));
  for (auto& n : nodes) stop(n);
}

TEST(Membership, RefusesMismatchedTransport) {
  auto c = three_nodes();
  rpc::LoopbackNetwork net({"n0", "n1"});
  auto t = net.attach(0, "s").value();
  EXPECT_FALSE(Membership::Create(c, 0, *t, nullptr).ok());
  EXPECT_FALSE(Membership::Create(c, 5, *t, nullptr).ok());
}

}  // namespace
}  // namespace node
