// Hostile and impossible messages: each is rejected with an error, counted
// in stats().rejected, emits no action and changes no frame. Also the
// factory's errors.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dsm/protocol/protocol.h"
#include "dsm/protocol/test_util.h"

namespace dsm::protocol {
namespace {

using namespace dsm::protocol::testing;  // NOLINT

constexpr FrameId kF = 1;

std::vector<std::string> snapshot(const Protocol& p) {
  std::vector<std::string> s;
  for (FrameId f = 0; f < p.config().frame_count; ++f) s.push_back(p.describe(f));
  return s;
}

// Puts `p` in a state with something in every role: a Modified copy of frame 1.
void warm_up(Protocol& p) {
  Actions a;
  p.on_fault(kF, Access::kWrite, &a);
  if (p.config().self != 0) {
    Message req = only_sent(a);
    deliver(p, msg(MsgType::kWriteGrant, 0, p.config().self, kF, 1, req.req), true);
  }
  ASSERT_EQ(p.view(kF).state, LocalState::kModified);
}

void expect_rejected(Protocol& p, Message m, const char* why) {
  std::vector<std::string> before = snapshot(p);
  uint64_t rejected = p.stats().rejected;
  Actions out;
  base::Status st = p.on_message(m, &out);
  ASSERT_FALSE(st.ok()) << why;
  EXPECT_EQ(st.error().code(), EPROTO) << why;
  EXPECT_FALSE(st.error().message().empty()) << why;
  EXPECT_EQ(p.stats().rejected, rejected + 1) << why;
  EXPECT_TRUE(out.empty()) << why;
  EXPECT_EQ(snapshot(p), before) << why;
}

class Malformed : public ::testing::TestWithParam<const char*> {};

TEST_P(Malformed, CommonChecks) {
  for (NodeId self : {NodeId{0}, NodeId{1}}) {
    auto p = make(GetParam(), self);
    warm_up(*p);
    NodeId other = self == 0 ? 2 : 0;
    Message m = msg(MsgType::kInval, other, self, kF, 9);
    Message bad = m;
    bad.frame = 4;  // frames are 0..3
    expect_rejected(*p, bad, "unknown frame");
    bad = m;
    bad.frame = ~uint64_t{0};
    expect_rejected(*p, bad, "huge frame");
    bad = m;
    bad.to = 3;
    expect_rejected(*p, bad, "addressed to another node");
    bad = m;
    bad.from = 4;
    expect_rejected(*p, bad, "unknown sender");
    bad = m;
    bad.type = static_cast<MsgType>(0);
    expect_rejected(*p, bad, "type 0");
    bad = m;
    bad.type = static_cast<MsgType>(200);
    expect_rejected(*p, bad, "type 200");
    bad = request(MsgType::kReadReq, other, self, kF, 1);
    bad.requester = 17;
    expect_rejected(*p, bad, "unknown requester");
    expect_rejected(*p, msg(MsgType::kReadGrant, other, self, kF, 5, 1), "grant without a page");
  }
}

INSTANTIATE_TEST_SUITE_P(Protocols, Malformed, ::testing::Values("msi-home", "ivy-dynamic"),
                         [](const auto& info) {
                           return std::string(info.param) == "msi-home" ? "msi_home"
                                                                        : "ivy_dynamic";
                         });

TEST(MalformedMsiHome, RoleChecks) {
  auto r = make("msi-home", 1);
  warm_up(*r);
  expect_rejected(*r, request(MsgType::kReadReq, 2, 1, kF, 1), "request at a node not home");
  expect_rejected(*r, msg(MsgType::kWriteBack, 2, 1, kF, 1, 0), "write-back at a node not home");
  Message grant = msg(MsgType::kWriteGrant, 2, 1, 0, 1, 1);
  grant.has_page = true;
  expect_rejected(*r, grant, "grant from a node that is not home");
  expect_rejected(*r, msg(MsgType::kRecall, 3, 1, kF, 1), "recall from a node not home");
  expect_rejected(*r, msg(MsgType::kInval, 0, 1, kF, 5), "invalidation of a Modified copy");
  expect_rejected(*r, msg(MsgType::kRecall, 0, 1, kF, 5), "recall of a future epoch");
  Message hb = msg(MsgType::kHandback, 0, 1, kF, 1);
  hb.has_page = true;
  expect_rejected(*r, hb, "an ivy message");
}

TEST(MalformedMsiHome, HomeChecks) {
  auto h = make("msi-home", 0);
  Actions a;
  // Node 1 owns frame 1 at epoch 1.
  deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 1));
  Message spoof = request(MsgType::kReadReq, 2, 0, kF, 1);
  spoof.requester = 3;
  expect_rejected(*h, spoof, "requester is not the sender");
  Message wb = msg(MsgType::kWriteBack, 2, 0, kF, 1);
  wb.has_page = true;
  expect_rejected(*h, wb, "write-back from a node that does not own the frame");
  expect_rejected(*h, msg(MsgType::kWriteBack, 1, 0, kF, 1), "write-back without a page");
  wb.from = 1;
  wb.version = 9;
  expect_rejected(*h, wb, "write-back of a future epoch");
  expect_rejected(*h, msg(MsgType::kRecallReply, 1, 0, kF, 9), "recall reply, future epoch");
  expect_rejected(*h, msg(MsgType::kInvalAck, 2, 0, kF, 9), "ack of a future epoch");
  expect_rejected(*h, msg(MsgType::kGrantRefused, 1, 0, kF, 9, 1), "refusal of a future grant");
  EXPECT_EQ(h->stats().rejected, 7u);
}

TEST(MalformedIvyDynamic, RoleChecks) {
  auto r = make("ivy-dynamic", 1);
  warm_up(*r);  // node 1 owns frame 1 (Modified)
  Message hb = msg(MsgType::kHandback, 2, 1, kF, 1);
  hb.has_page = true;
  expect_rejected(*r, hb, "hand-back to a node that is not the home");
  expect_rejected(*r, msg(MsgType::kHandbackAck, 2, 1, kF, 1), "hand-back ack not from the home");
  expect_rejected(*r, msg(MsgType::kInval, 2, 1, kF, 5), "invalidation of the owner's copy");
  expect_rejected(*r, msg(MsgType::kRecall, 0, 1, kF, 1), "an msi-home message");
  Message g = msg(MsgType::kWriteGrant, 2, 1, kF, 5, 1);
  g.has_page = true;
  g.copyset = uint64_t{1} << 40;
  expect_rejected(*r, g, "copyset naming unknown nodes");

  auto h = make("ivy-dynamic", 0);
  warm_up(*h);
  hb.from = 1;
  hb.to = 0;
  hb.version = 7;
  expect_rejected(*h, hb, "hand-back while the home owns the frame");
  hb.version = 0;
  hb.has_page = false;
  expect_rejected(*h, hb, "hand-back without a page");
}

TEST(Factory, KnowsBothProtocolsAndRejectsOthers) {
  for (std::string_view name : protocol_names()) {
    auto p = make(name, 0);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->name(), name);
  }
  EXPECT_EQ(protocol_names()[0], "msi-home");
  ProtocolConfig cfg;
  cfg.node_count = 2;
  cfg.frame_count = 1;
  cfg.placement = std::make_shared<FixedPlacement>(0, 2);
  auto bad = make_protocol("mesi", cfg);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), EINVAL);
  EXPECT_NE(bad.error().message().find("mesi"), std::string::npos);
  EXPECT_NE(bad.error().message().find("msi-home"), std::string::npos);
  cfg.self = 2;
  EXPECT_FALSE(make_protocol("msi-home", cfg).ok());
  cfg.self = 0;
  cfg.node_count = 3;  // the placement covers 2
  EXPECT_FALSE(make_protocol("msi-home", cfg).ok());
  cfg.placement = nullptr;
  EXPECT_FALSE(make_protocol("ivy-dynamic", cfg).ok());
}

TEST(Names, EveryEnumHasOne) {
  for (uint8_t t = 1; t <= kMaxMsgType; ++t) {
    EXPECT_NE(to_string(static_cast<MsgType>(t)), "Unknown") << int(t);
  }
  EXPECT_EQ(to_string(PageSource::kIncoming), "incoming");
  EXPECT_EQ(to_string(ActionType::kWriteProtect), "write-protect");
  EXPECT_EQ(to_string(LocalState::kModified), "M");
  EXPECT_EQ(to_string(Access::kWrite), "write");
}

TEST(Factory, EvictionOfUnknownFrameIsAnError) {
  auto p = make("msi-home", 1);
  Actions a;
  EXPECT_FALSE(p->on_evict(99, &a).ok());
  p->on_fault(99, Access::kRead, &a);  // ignored
  p->on_timeout(99, &a);
  EXPECT_TRUE(a.empty());
}

}  // namespace
}  // namespace dsm::protocol
