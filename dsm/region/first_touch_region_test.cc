// first-touch placement on real Regions: three nodes over loopback, a faulty
// loopback (drops, duplicates, reordering) and libfabric on 127.0.0.1, with
// both protocols. Each node writes its own frames first and so becomes
// their home; the others read the data back; frames nobody wrote read as
// zeros; every node learns the same homes. And hostile claim messages sent
// to a Region are rejected, counted and change nothing.

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <tuple>
#include <vector>

#include "dsm/region/coherence_wire.h"
#include "dsm/region/region.h"
#include "dsm/region/region_test_util.h"
#include "rpc/loopback_transport.h"
#include "rpc/test_util.h"

namespace dsm {
namespace {

using testing::Cluster;
using testing::Net;

constexpr uint64_t kPage = 4096;
constexpr uint64_t kPerNode = 4;                // frames each node touches first
constexpr uint64_t kFrames = 3 * kPerNode + 4;  // and 4 nobody writes

std::atomic_ref<uint32_t> word(Region& r, uint64_t frame, uint64_t index) {
  return std::atomic_ref<uint32_t>(
      *(reinterpret_cast<uint32_t*>(r.data() + frame * kPage) + index));
}

uint32_t value(uint64_t frame, uint64_t i) { return static_cast<uint32_t>(frame * 1000 + i + 1); }

// "| home N" as describe() prints it (protocol_base.cc).
std::string home_tag(int node) { return "| home " + std::to_string(node); }

class FirstTouchRegion : public ::testing::TestWithParam<std::tuple<Net, std::string>> {};

TEST_P(FirstTouchRegion, TheFirstToucherIsHomeAndItsDataIsReadEverywhere) {
  RegionConfig cfg;
  cfg.frames = kFrames;
  cfg.placement = "first-touch";
  cfg.protocol = std::get<1>(GetParam());
  cfg.read_ahead_max = 0;  // read-ahead would claim the frames ahead of a reader
  static int next_ports = 0;
  auto c = Cluster::make(std::get<0>(GetParam()), 3, cfg, 100 + 4 * (next_ports++ % 6));
  ASSERT_TRUE(c);
  // Node n first touches (writes) frames [n * kPerNode, (n + 1) * kPerNode).
  for (int n = 0; n < 3; ++n) {
    Region& r = *c->regions[n];
    for (uint64_t f = n * kPerNode; f < (n + 1) * kPerNode; ++f) {
      for (uint64_t i = 0; i < 8; ++i) word(r, f, i * 64).store(value(f, i));
    }
  }
  for (int n = 0; n < 3; ++n) {
    EXPECT_EQ(c->regions[n]->stats().proto.homes_won, kPerNode) << "node " << n;
  }
  // Everybody reads everything written, in another order than written.
  for (int n : {2, 0, 1}) {
    Region& r = *c->regions[n];
    for (uint64_t f = 0; f < 3 * kPerNode; ++f) {
      for (uint64_t i = 0; i < 8; ++i) {
        ASSERT_EQ(word(r, f, i * 64).load(), value(f, i)) << "node " << n << " frame " << f;
      }
    }
  }
  // Frames nobody wrote: zeros, homed on the first reader (node 1).
  for (int n : {1, 2, 0}) {
    Region& r = *c->regions[n];
    for (uint64_t f = 3 * kPerNode; f < kFrames; ++f) {
      for (uint64_t i = 0; i < kPage / 4; i += 97) {
        ASSERT_EQ(word(r, f, i).load(), 0u) << "node " << n << " frame " << f;
      }
    }
  }
  // A write after all that, by a node that is not the home, reaches the others.
  word(*c->regions[2], 1, 3).store(4242);
  EXPECT_EQ(word(*c->regions[0], 1, 3).load(), 4242u);
  EXPECT_EQ(word(*c->regions[1], 1, 3).load(), 4242u);

  for (int n = 0; n < 3; ++n) {
    Region& r = *c->regions[n];
    RegionStats s = r.stats();
    EXPECT_EQ(s.proto.homes_won, n == 1 ? kPerNode + (kFrames - 3 * kPerNode) : kPerNode)
        << "node " << n;
    EXPECT_EQ(s.rejected(), 0u) << "node " << n;
    EXPECT_EQ(s.driver.page_errors, 0u);
    // Every node learned every frame's home, and they agree.
    for (uint64_t f = 0; f < kFrames; ++f) {
      const int home = f < 3 * kPerNode ? static_cast<int>(f / kPerNode) : 1;
      EXPECT_NE(r.describe(f).find(home_tag(home)), std::string::npos)
          << "node " << n << " frame " << f << ": " << r.describe(f);
    }
  }
  uint64_t decided = 0;
  for (auto& r : c->regions) decided += r->stats().proto.claims_decided;
  EXPECT_EQ(decided, kFrames);  // one decision a frame, at its arbiter
}

INSTANTIATE_TEST_SUITE_P(Nets, FirstTouchRegion,
                         ::testing::Combine(::testing::Values(Net::kLoopback, Net::kFaulty,
                                                              Net::kFabric),
                                            ::testing::Values("msi-home", "ivy-dynamic")),
                         [](const auto& info) {
                           std::string p =
                               std::get<1>(info.param) == "msi-home" ? "MsiHome" : "IvyDynamic";
                           return testing::to_string(std::get<0>(info.param)) + p;
                         });

// Node 1 runs the region (first-touch, frame f's arbiter is node f % 2);
// node 0 is a bare transport that sends whatever it likes.
class FirstTouchBadInput : public ::testing::TestWithParam<std::string> {};

TEST_P(FirstTouchBadInput, HostileClaimsRejectedCountedAndHarmless) {
  rpc::LoopbackNetwork net({"n0", "n1"});
  auto attacker = net.attach(0, "s");
  auto victim_t = net.attach(1, "s");
  ASSERT_TRUE(attacker.ok() && victim_t.ok());
  std::atomic<int> replies{0};
  (*attacker)->set_handler(rpc::BodyKind::COHERENCE, [&](const rpc::Incoming& in) {
    auto m = decode_coherence(in, 0, 2, 3, 8);
    if (m.ok() && m->type == protocol::MsgType::kClaimReply && m->requester == 1) ++replies;
  });
  RegionConfig cfg;
  cfg.self = 1;
  cfg.node_count = 2;
  cfg.frames = 8;
  cfg.placement = "first-touch";
  cfg.protocol = GetParam();
  cfg.region_id = 3;
  cfg.read_ahead_max = 0;
  auto victim = Region::Create(cfg, **victim_t);
  ASSERT_TRUE(victim.ok()) << victim.error().message();
  Region& r = **victim;
  word(r, 1, 0).store(42);  // frame 1: node 1 is its arbiter, claims it itself
  ASSERT_NE(r.describe(1).find(home_tag(1)), std::string::npos) << r.describe(1);
  std::vector<std::string> before;
  for (uint64_t f = 0; f < 8; ++f) before.push_back(r.describe(f));

  auto send = [&](protocol::Message m) {
    m.from = 0;
    m.to = 1;
    rpc::OutMessage out;
    encode_coherence(m, 3, out);
    ASSERT_TRUE((*attacker)->send(1, out, nullptr).ok());
  };
  protocol::Message m;
  m.type = protocol::MsgType::kClaim;
  m.requester = 0;
  m.frame = 0;  // node 1 is not frame 0's arbiter
  send(m);
  m.frame = 1;
  m.requester = 1;  // claims in another node's name
  send(m);
  m.type = protocol::MsgType::kClaimReply;
  m.requester = 0;  // frame 1's arbiter is node 1 itself, not the sender
  send(m);
  m.frame = 0;  // from the arbiter, but node 1 never claimed frame 0
  send(m);
  m.type = protocol::MsgType::kReadReq;  // frame 2: home unknown to node 1
  m.frame = 2;
  send(m);
  // And one legitimate late claim: answered with the home, node 1.
  m.type = protocol::MsgType::kClaim;
  m.frame = 1;
  send(m);

  ASSERT_TRUE(rpc::testing::wait_for([&] {
    return r.stats().driver.rejected_protocol >= 5 && replies.load() == 1;
  })) << r.stats().to_text();
  RegionStats s = r.stats();
  EXPECT_EQ(s.driver.rejected_protocol, 5u);
  EXPECT_EQ(s.proto.rejected, 5u);
  EXPECT_EQ(s.driver.rejected_malformed, 0u);
  for (uint64_t f = 0; f < 8; ++f) EXPECT_EQ(r.describe(f), before[f]) << f;
  EXPECT_EQ(word(r, 1, 0).load(), 42u);
  word(r, 1, 0).store(43);  // still writable here, no message needed
  EXPECT_EQ(word(r, 1, 0).load(), 43u);
  EXPECT_EQ(s.engine.invalidations, 0u);
}

INSTANTIATE_TEST_SUITE_P(Protocols, FirstTouchBadInput,
                         ::testing::Values("msi-home", "ivy-dynamic"), [](const auto& info) {
                           return info.param == "msi-home" ? "MsiHome" : "IvyDynamic";
                         });

}  // namespace
}  // namespace dsm
