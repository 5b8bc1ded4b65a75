// first-touch placement: the claim exchange (protocol_claims.cc) under both
// protocols. Four nodes; frame kF's arbiter (its interleave home) is node 2.
// Every transition: the first claim wins, concurrent claims, later and
// repeated claims, a request at the arbiter for a frame homed elsewhere, a
// node learns the home once, retries and coalescing while claiming; and
// hostile or unexpected claim messages, rejected and counted.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "dsm/protocol/placement.h"
#include "dsm/protocol/protocol.h"
#include "dsm/protocol/test_util.h"

namespace dsm::protocol {
namespace {

using namespace dsm::protocol::testing;  // NOLINT

constexpr uint16_t kNodes = 4;
constexpr FrameId kF = 2;
constexpr NodeId kArbiter = 2;

class FirstTouch : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto p = make_placement("first-touch", std::vector<uint64_t>(kNodes, 1), 8);
    ASSERT_TRUE(p.ok());
    placement_ = std::move(p).value();
    ASSERT_EQ(placement_->home_of(kF), kArbiter);
    for (NodeId n = 0; n < kNodes; ++n) {
      ProtocolConfig cfg;
      cfg.self = n;
      cfg.node_count = kNodes;
      cfg.frame_count = 8;
      cfg.placement = placement_;
      auto proto = make_protocol(GetParam(), cfg);
      ASSERT_TRUE(proto.ok());
      nodes_.push_back(std::move(proto).value());
    }
  }
  Protocol& n(NodeId i) { return *nodes_[i]; }

  static Message claim(NodeId from, FrameId f = kF) {
    Message m = msg(MsgType::kClaim, from, kArbiter, f);
    m.requester = from;
    return m;
  }
  static Message reply(NodeId to, NodeId home, FrameId f = kF) {
    Message m = msg(MsgType::kClaimReply, kArbiter, to, f);
    m.requester = home;
    return m;
  }
  // Node `who` claims kF and the arbiter, which has not decided it yet,
  // makes it the home; returns what the winner did on learning it.
  Actions win(NodeId who, Access a) {
    Message c = only_sent(fault(n(who), kF, a));
    EXPECT_EQ(c.type, MsgType::kClaim);
    Message r = only_sent(deliver(n(kArbiter), c));
    EXPECT_EQ(r.requester, who);
    return deliver(n(who), r);
  }

  std::shared_ptr<const Placement> placement_;
  std::vector<std::unique_ptr<Protocol>> nodes_;
};

TEST_P(FirstTouch, FirstClaimWinsAndTheWinnerServesItselfLocally) {
  Actions a = fault(n(1), kF, Access::kWrite);
  Message c = only_sent(a);
  EXPECT_EQ(c.type, MsgType::kClaim);
  EXPECT_EQ(c.to, kArbiter);
  EXPECT_EQ(c.requester, 1);
  EXPECT_EQ(count(a, ActionType::kArmTimer), 1u);
  EXPECT_FALSE(find(a, ActionType::kInstall));  // nothing before the home is known
  EXPECT_EQ(n(1).home_of(kF), kNoNode);
  EXPECT_EQ(n(1).view(kF).pending, Access::kWrite);  // the driver keeps its timer

  Actions at_arbiter = deliver(n(kArbiter), c);
  Message r = only_sent(at_arbiter);
  EXPECT_EQ(r.type, MsgType::kClaimReply);
  EXPECT_EQ(r.to, 1);
  EXPECT_EQ(r.requester, 1);  // you are the home
  EXPECT_EQ(n(kArbiter).home_of(kF), 1);
  EXPECT_EQ(n(kArbiter).stats().claims_decided, 1u);

  Actions won = deliver(n(1), r);
  EXPECT_TRUE(sent(won).empty()) << "the home serves its own write without a message";
  auto inst = find(won, ActionType::kInstall);
  ASSERT_TRUE(inst);
  EXPECT_EQ(n(1).view(kF).state, LocalState::kModified);
  EXPECT_EQ(n(1).view(kF).pending, Access::kNone);
  EXPECT_EQ(n(1).home_of(kF), 1);
  EXPECT_EQ(n(1).stats().homes_won, 1u);
  EXPECT_EQ(n(1).stats().claims, 1u);
  EXPECT_NE(n(1).describe(kF).find("home 1"), std::string::npos) << n(1).describe(kF);
  // Other frames are untouched: their homes are still unknown.
  EXPECT_EQ(n(1).home_of(kF + 1), kNoNode);
}

TEST_P(FirstTouch, TheArbitersOwnFirstTouchCostsNoMessage) {
  Actions a = fault(n(kArbiter), kF, Access::kRead);
  EXPECT_TRUE(sent(a).empty());
  auto done = find(a, ActionType::kComplete);
  ASSERT_TRUE(done);
  EXPECT_EQ(n(kArbiter).view(kF).state, LocalState::kShared);
  EXPECT_EQ(n(kArbiter).home_of(kF), kArbiter);
  EXPECT_EQ(n(kArbiter).stats().homes_won, 1u);
  // A later claim from node 0 learns the arbiter is home.
  Message r = only_sent(deliver(n(kArbiter), claim(0)));
  EXPECT_EQ(r.requester, kArbiter);
}

TEST_P(FirstTouch, ConcurrentClaimsTheArbiterOrdersThemAndTheLoserAsksTheWinner) {
  Message c1 = only_sent(fault(n(1), kF, Access::kRead));
  Message c3 = only_sent(fault(n(3), kF, Access::kWrite));
  // Node 3's claim arrives first: it wins; node 1 learns so.
  Message r3 = only_sent(deliver(n(kArbiter), c3));
  Message r1 = only_sent(deliver(n(kArbiter), c1));
  EXPECT_EQ(r3.to, 3);
  EXPECT_EQ(r3.requester, 3);
  EXPECT_EQ(r1.to, 1);
  EXPECT_EQ(r1.requester, 3);
  EXPECT_EQ(n(kArbiter).stats().claims_decided, 1u);

  Message req = only_sent(deliver(n(1), r1));
  EXPECT_EQ(req.type, MsgType::kReadReq);
  EXPECT_EQ(req.to, 3);
  EXPECT_EQ(n(1).home_of(kF), 3);
  EXPECT_EQ(n(1).stats().homes_won, 0u);

  // The loser's request overtakes the winner's reply: node 3 does not know
  // it is home yet; the request is ignored (stale), not rejected.
  const uint64_t stale = n(3).stats().stale;
  EXPECT_TRUE(deliver(n(3), req).empty());
  EXPECT_EQ(n(3).stats().stale, stale + 1);
  EXPECT_EQ(n(3).stats().rejected, 0u);

  // Node 3 learns it won and writes; node 1's retry is then served by it.
  Actions won = deliver(n(3), r3);
  EXPECT_TRUE(sent(won).empty());
  EXPECT_EQ(n(3).view(kF).state, LocalState::kModified);
  Message retry = only_sent(timeout(n(1), kF));
  EXPECT_EQ(retry.type, MsgType::kReadReq);
  EXPECT_EQ(retry.to, 3);
  Message grant = only_sent(deliver(n(3), retry));
  EXPECT_EQ(grant.type, MsgType::kReadGrant);
  EXPECT_EQ(grant.to, 1);
  Actions got = deliver(n(1), grant, true);
  EXPECT_TRUE(find(got, ActionType::kComplete));
  EXPECT_EQ(n(1).view(kF).state, LocalState::kShared);
  for (NodeId i : {NodeId{1}, kArbiter, NodeId{3}}) EXPECT_EQ(n(i).home_of(kF), 3) << i;
  EXPECT_EQ(n(0).home_of(kF), kNoNode);  // never touched it, never asked
}

TEST_P(FirstTouch, LaterAndRepeatedClaimsAllGetTheWinner) {
  win(1, Access::kRead);
  for (NodeId from : {NodeId{1}, NodeId{0}, NodeId{3}, NodeId{1}}) {
    Message r = only_sent(deliver(n(kArbiter), claim(from)));
    EXPECT_EQ(r.to, from);
    EXPECT_EQ(r.requester, 1);
  }
  EXPECT_EQ(n(kArbiter).stats().claims_decided, 1u);
  EXPECT_EQ(n(kArbiter).home_of(kF), 1);
}

TEST_P(FirstTouch, ARequestAtTheArbiterForAClaimedFrameGoesToTheWinner) {
  win(3, Access::kWrite);
  Message c = only_sent(fault(n(1), kF, Access::kRead));
  deliver(n(1), only_sent(deliver(n(kArbiter), c)));  // node 1 learns: home 3
  // A request reaching the arbiter instead of the home:
  Actions a = deliver(n(kArbiter), request(MsgType::kReadReq, 1, kArbiter, kF, 77));
  Message out = only_sent(a);
  if (GetParam() == "msi-home") {
    // The arbiter is no home: it redirects the requester to the winner
    // and serves nothing.
    EXPECT_EQ(out.type, MsgType::kClaimReply);
    EXPECT_EQ(out.to, 1);
    EXPECT_EQ(out.requester, 3);
    EXPECT_EQ(n(kArbiter).stats().redirects, 1u);
    // The requester knows that already: a stale duplicate, nothing changes.
    EXPECT_TRUE(deliver(n(1), out).empty());
  } else {
    // ivy: the arbiter points at the winner (the first owner) and forwards.
    EXPECT_EQ(out.type, MsgType::kReadReq);
    EXPECT_EQ(out.to, 3);
    EXPECT_EQ(out.requester, 1);
    EXPECT_EQ(out.req, 77u);
  }
  EXPECT_EQ(n(kArbiter).view(kF).state, LocalState::kInvalid);
  EXPECT_FALSE(find(a, ActionType::kInstall));
}

TEST_P(FirstTouch, ANodeLearnsTheHomeOnce) {
  win(3, Access::kWrite);
  Message c = only_sent(fault(n(1), kF, Access::kRead));
  Message r = only_sent(deliver(n(kArbiter), c));
  Message req = only_sent(deliver(n(1), r));
  EXPECT_EQ(req.to, 3);
  // A duplicate reply: stale, nothing sent or changed.
  const std::string before = n(1).describe(kF);
  EXPECT_TRUE(deliver(n(1), r).empty());
  EXPECT_EQ(n(1).describe(kF), before);
  // A reply naming another home cannot undo what was learned.
  Actions out;
  EXPECT_FALSE(n(1).on_message(reply(1, 0), &out).ok());
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(n(1).home_of(kF), 3);
  // Served, evicted, faulted again: straight to the home, no second claim.
  Message grant = only_sent(deliver(n(3), req));
  deliver(n(1), grant, true);
  ASSERT_EQ(n(1).view(kF).state, LocalState::kShared);
  ASSERT_TRUE(n(1).on_evict(kF, &out).ok());
  ASSERT_EQ(n(1).view(kF).state, LocalState::kInvalid);
  Message again = only_sent(fault(n(1), kF, Access::kWrite));
  EXPECT_EQ(again.type, MsgType::kWriteReq);
  EXPECT_EQ(again.to, 3);
  EXPECT_EQ(n(1).stats().claims, 1u);
}

TEST_P(FirstTouch, ClaimsAreRetriedAndFaultsWhileClaimingCoalesce) {
  Message c = only_sent(fault(n(1), kF, Access::kRead));
  EXPECT_TRUE(sent(fault(n(1), kF, Access::kWrite)).empty());  // joins the claim
  EXPECT_EQ(n(1).stats().coalesced, 1u);
  EXPECT_EQ(n(1).view(kF).pending, Access::kWrite);
  Actions t = timeout(n(1), kF);  // the claim was lost
  Message again = only_sent(t);
  EXPECT_EQ(again, c);
  EXPECT_EQ(count(t, ActionType::kArmTimer), 1u);
  EXPECT_EQ(n(1).stats().claims, 1u);
  EXPECT_EQ(n(1).stats().retries, 1u);
  // Both copies reach the arbiter (the first one was only late): one decision.
  Message r = only_sent(deliver(n(kArbiter), c));
  Message r2 = only_sent(deliver(n(kArbiter), again));
  EXPECT_EQ(r, r2);
  Actions won = deliver(n(1), r);
  EXPECT_EQ(n(1).view(kF).state, LocalState::kModified);  // the write waited
  auto done = find(won, ActionType::kComplete);
  ASSERT_TRUE(done);
  EXPECT_TRUE(deliver(n(1), r2).empty());        // the duplicate reply: stale
  EXPECT_TRUE(sent(timeout(n(1), kF)).empty());  // nothing left to retry
}

INSTANTIATE_TEST_SUITE_P(Protocols, FirstTouch, ::testing::Values("msi-home", "ivy-dynamic"),
                         [](const auto& info) {
                           return info.param == "msi-home" ? "MsiHome" : "IvyDynamic";
                         });

// Hostile and unexpected claim messages: rejected with an error, counted,
// no action, no frame changed.
class FirstTouchMalformed : public FirstTouch {
 protected:
  std::vector<std::string> snapshot(NodeId i) {
    std::vector<std::string> s;
    for (FrameId f = 0; f < 8; ++f) s.push_back(n(i).describe(f));
    return s;
  }
  void expect_rejected(NodeId at, Message m, const char* why) {
    const std::vector<std::string> before = snapshot(at);
    const uint64_t rejected = n(at).stats().rejected;
    Actions out;
    base::Status st = n(at).on_message(m, &out);
    ASSERT_FALSE(st.ok()) << why;
    EXPECT_EQ(st.error().code(), EPROTO) << why;
    EXPECT_TRUE(out.empty()) << why;
    EXPECT_EQ(n(at).stats().rejected, rejected + 1) << why;
    EXPECT_EQ(snapshot(at), before) << why;
  }
};

TEST_P(FirstTouchMalformed, ClaimMessagesRejectedCountedAndHarmless) {
  win(3, Access::kWrite);                                           // kF: home 3, decided at 2
  Message pending = only_sent(fault(n(1), kF + 1, Access::kRead));  // node 1 claims frame 3
  ASSERT_EQ(pending.type, MsgType::kClaim);

  Message c = claim(1);
  c.to = 1;  // node 1 is not kF's arbiter
  expect_rejected(1, c, "claim at a node that is not the arbiter");
  c = claim(1);
  c.requester = 0;
  expect_rejected(kArbiter, c, "claimant is not the sender");
  c = claim(1);
  c.has_page = true;
  expect_rejected(kArbiter, c, "claim with a page");
  c = claim(1);
  c.requester = 9;
  expect_rejected(kArbiter, c, "claimant outside the cluster");

  Message r = reply(1, 3, kF + 1);
  r.from = 0;  // frame 3's arbiter is node 3
  expect_rejected(1, r, "claim reply not from the arbiter");
  r = reply(1, kNoNode, kF + 1);
  r.from = 3;
  expect_rejected(1, r, "claim reply naming no home");
  r.requester = 1;
  r.has_page = true;
  expect_rejected(1, r, "claim reply with a page");
  expect_rejected(0, reply(0, 3), "claim reply for a claim never made");
  expect_rejected(3, reply(3, 1), "claim reply contradicting the home learned");

  // Protocol messages about a frame whose home the receiver does not know
  // and is not claiming: nobody could legitimately have sent them.
  expect_rejected(0, request(MsgType::kReadReq, 1, 0, kF, 5), "request, home unknown");
  expect_rejected(0, msg(MsgType::kInval, 3, 0, kF, 9), "inval, home unknown");
  Message g = msg(MsgType::kReadGrant, 3, 0, kF, 1, 1);
  g.has_page = true;
  expect_rejected(0, g, "grant, home unknown");
  // At the arbiter for a frame nobody claimed yet: not a home either.
  expect_rejected(kArbiter, request(MsgType::kWriteReq, 1, kArbiter, kF + 4, 5),
                  "request for an unclaimed frame");
  // The claim in flight still completes normally afterwards.
  Message ok = only_sent(deliver(n(3), pending));
  EXPECT_EQ(ok.requester, 1);
  deliver(n(1), ok);
  EXPECT_EQ(n(1).home_of(kF + 1), 1);
  EXPECT_EQ(n(1).view(kF + 1).state, LocalState::kShared);
}

TEST_P(FirstTouchMalformed, ClaimsWithoutFirstTouchRejected) {
  auto p = make(GetParam(), 2, kNodes, 0);  // fixed placement: node 0 homes all
  Message c = claim(1);
  Actions out;
  EXPECT_FALSE(p->on_message(c, &out).ok());
  EXPECT_FALSE(p->on_message(reply(2, 0), &out).ok());
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(p->stats().rejected, 2u);
  EXPECT_EQ(p->home_of(kF), 0);
}

INSTANTIATE_TEST_SUITE_P(Protocols, FirstTouchMalformed,
                         ::testing::Values("msi-home", "ivy-dynamic"), [](const auto& info) {
                           return info.param == "msi-home" ? "MsiHome" : "IvyDynamic";
                         });

}  // namespace
}  // namespace dsm::protocol
