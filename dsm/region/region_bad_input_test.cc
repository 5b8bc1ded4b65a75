// Hostile coherence messages: malformed ones are refused by the decoder,
// impossible ones by the protocol; both are counted and change no frame.

#include <gtest/gtest.h>

#include <atomic>
#include <span>
#include <vector>

#include "dsm/region/coherence_wire.h"
#include "dsm/region/region.h"
#include "rpc/loopback_transport.h"
#include "rpc/test_util.h"

namespace dsm {
namespace {

using protocol::Message;
using protocol::MsgType;

class RegionBadInput : public ::testing::TestWithParam<std::string> {};

TEST_P(RegionBadInput, RejectedCountedAndHarmless) {
  // Node 1 runs the region and homes every frame; node 0 is a bare
  // transport that sends whatever it likes.
  rpc::LoopbackNetwork net({"n0", "n1"});
  auto attacker = net.attach(0, "s");
  auto victim_t = net.attach(1, "s");
  ASSERT_TRUE(attacker.ok() && victim_t.ok());
  RegionConfig cfg;
  cfg.self = 1;
  cfg.node_count = 2;
  cfg.frames = 8;
  cfg.placement = "range";
  cfg.weights = {0, 1};
  cfg.protocol = GetParam();
  cfg.region_id = 3;
  auto victim = Region::Create(cfg, **victim_t);
  ASSERT_TRUE(victim.ok()) << victim.error().message();
  Region& r = **victim;
  auto* w = reinterpret_cast<uint32_t*>(r.data());
  std::atomic_ref<uint32_t>(w[0]).store(42);  // frame 0, Modified on node 1
  const std::string before = r.describe(0);

  std::vector<std::byte> page(4096, std::byte{0x5a});
  auto send = [&](Message m, uint32_t region, bool with_page, int type_override = -1) {
    rpc::OutMessage out;
    encode_coherence(m, region, out);
    if (type_override >= 0) out.header().getBody().getCoherence().setMsgType(type_override);
    ASSERT_TRUE((*attacker)->send(1, out, with_page ? page.data() : nullptr).ok());
  };
  Message m;
  m.from = 0;
  m.to = 1;
  m.frame = 0;
  m.version = 1;
  // Malformed: refused before the protocol sees them.
  m.type = MsgType::kReadReq;
  m.requester = 0;
  send(m, 3, false, 99);  // unknown type
  send(m, 4, false);      // another region
  m.frame = 1000;         // outside the region
  send(m, 3, false);
  m.frame = 0;
  m.requester = 9;  // no such node
  send(m, 3, false);
  // Impossible: a grant whose copyset names nodes that do not exist, from
  // a node that is not the frame's home; an invalidation of a newer epoch
  // than the Modified copy held here.
  m.requester = protocol::kNoNode;
  m.type = MsgType::kWriteGrant;
  m.version = 7;
  m.copyset = uint64_t{1} << 40;
  send(m, 3, true);
  m.copyset = 0;
  m.type = MsgType::kInval;
  m.version = 1000;
  send(m, 3, false);

  ASSERT_TRUE(rpc::testing::wait_for([&] {
    RegionStats s = r.stats();
    return s.driver.rejected_malformed >= 4 && s.driver.rejected_protocol >= 2;
  })) << r.stats().to_text();
  RegionStats s = r.stats();
  EXPECT_EQ(s.driver.rejected_malformed, 4u);
  EXPECT_EQ(s.driver.rejected_protocol, 2u);
  EXPECT_EQ(s.proto.rejected, 2u);
  // Nothing changed: the same state, the same bytes, still writable here.
  EXPECT_EQ(r.describe(0), before);
  EXPECT_EQ(std::atomic_ref<uint32_t>(w[0]).load(), 42u);
  std::atomic_ref<uint32_t>(w[0]).store(43);
  EXPECT_EQ(std::atomic_ref<uint32_t>(w[0]).load(), 43u);
  EXPECT_EQ(r.stats().engine.invalidations, 0u);
}

// Runs (several messages in one frame): a frame whose page count does not
// match its element count is refused whole; a bad element is refused alone
// while the good ones around it are served; a single message with several
// pages is malformed. Each refusal is counted, no frame changes.
TEST_P(RegionBadInput, HostileRunsRejectedCountedAndHarmless) {
  rpc::LoopbackNetwork net({"n0", "n1"});
  auto attacker = net.attach(0, "s");
  auto victim_t = net.attach(1, "s");
  ASSERT_TRUE(attacker.ok() && victim_t.ok());
  RegionConfig cfg;
  cfg.self = 1;
  cfg.node_count = 2;
  cfg.frames = 8;
  cfg.placement = "range";
  cfg.weights = {0, 1};
  cfg.protocol = GetParam();
  cfg.region_id = 3;
  auto victim = Region::Create(cfg, **victim_t);
  ASSERT_TRUE(victim.ok()) << victim.error().message();
  Region& r = **victim;
  auto* w = reinterpret_cast<uint32_t*>(r.data());
  std::atomic_ref<uint32_t>(w[0]).store(42);  // frame 0, Modified on node 1
  const std::string before = r.describe(0);

  {
    // Runs do not wait for a session: make one first.
    rpc::OutMessage hello;
    hello.header().initBody().setNone();
    ASSERT_TRUE((*attacker)->send(1, hello).ok());
    ASSERT_TRUE(rpc::testing::wait_for([&] { return (*attacker)->authenticated(1); }));
  }
  std::vector<std::byte> pages(3 * 4096, std::byte{0x5a});
  const std::byte* ptrs[3] = {pages.data(), pages.data() + 4096, pages.data() + 8192};
  Message m;
  m.from = 0;
  m.to = 1;
  m.version = 1;
  m.type = MsgType::kWriteGrant;  // impossible from node 0 anyway
  m.requester = protocol::kNoNode;
  std::vector<Message> run(3, m);
  for (size_t i = 0; i < run.size(); ++i) run[i].frame = i;
  {
    rpc::OutMessage out;  // three elements, two pages
    encode_coherence_run(run, 3, out);
    ASSERT_TRUE((*attacker)->send_pages(1, out, std::span(ptrs, 2)).ok());
  }
  {
    rpc::OutMessage out;  // one message, three pages
    encode_coherence(run[0], 3, out);
    ASSERT_TRUE((*attacker)->send_pages(1, out, std::span(ptrs, 3)).ok());
  }
  // Read requests for frames 1 and 2 around an element outside the region.
  Message q = m;
  q.type = MsgType::kReadReq;
  q.requester = 0;
  std::vector<Message> reqs(3, q);
  reqs[0].frame = 1;
  reqs[1].frame = 1000;
  reqs[2].frame = 2;
  reqs[0].req = 1;
  reqs[2].req = 2;
  std::atomic<int> grants{0};
  (*attacker)->set_handler(rpc::BodyKind::COHERENCE, [&](const rpc::Incoming&) { grants++; });
  (*attacker)->set_handler(rpc::BodyKind::COHERENCE_RUN, [&](const rpc::Incoming& in) {
    grants += static_cast<int>(in.header.getBody().getCoherenceRun().size());
  });
  {
    rpc::OutMessage out;
    encode_coherence_run(reqs, 3, out);
    ASSERT_TRUE((*attacker)->send_pages(1, out, {}).ok());
  }
  ASSERT_TRUE(rpc::testing::wait_for([&] {
    return r.stats().driver.rejected_malformed >= 3 && grants.load() >= 2;
  })) << r.stats().to_text();
  RegionStats s = r.stats();
  EXPECT_EQ(s.driver.rejected_malformed,
            3u);                // the mismatched run, the multi-page single, frame 1000
  EXPECT_EQ(grants.load(), 2);  // frames 1 and 2 were served
  EXPECT_EQ(r.describe(0), before);
  EXPECT_EQ(std::atomic_ref<uint32_t>(w[0]).load(), 42u);
}

INSTANTIATE_TEST_SUITE_P(Protocols, RegionBadInput,
                         ::testing::Values(std::string("msi-home"), std::string("ivy-dynamic")),
                         [](const auto& info) {
                           return info.param == "msi-home" ? std::string("MsiHome")
                                                           : std::string("IvyDynamic");
                         });

}  // namespace
}  // namespace dsm
