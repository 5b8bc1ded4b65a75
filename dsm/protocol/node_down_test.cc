// Node failure (dsm/PROTOCOLS.md "Node failure"): every transition of
// on_node_down / on_node_up, both protocols. Node 0 is the home of every
// frame (FixedPlacement); nodes 1-3 are requesters.

#include <gtest/gtest.h>

#include "dsm/protocol/ivy_dynamic.h"
#include "dsm/protocol/msi_home.h"
#include "dsm/protocol/placement.h"
#include "dsm/protocol/test_util.h"

namespace dsm::protocol {
namespace {

using namespace dsm::protocol::testing;  // NOLINT

constexpr FrameId kF = 1;

const DirEntry& dir(const Protocol& p, FrameId f) {
  return static_cast<const MsiHome&>(p).directory(f);
}

Actions node_down(Protocol& p, NodeId n) {
  Actions out;
  p.on_node_down(n, &out);
  return out;
}

// Home 0 grants node `r` a Shared copy of kF.
void home_shares(Protocol& home, NodeId r, RequestId req = 7) {
  deliver(home, request(MsgType::kReadReq, r, 0, kF, req));
}

// --- msi-home, at the home --------------------------------------------------

TEST(MsiNodeDown, DeadSharerLeavesTheCopyset) {
  auto h = make("msi-home", 0);
  home_shares(*h, 1);
  home_shares(*h, 2);
  node_down(*h, 2);
  EXPECT_EQ(dir(*h, kF).copyset, node_bit(1));
  EXPECT_EQ(h->stats().nodes_down, 1u);
  // A writer now only waits for node 1.
  Actions a = deliver(*h, request(MsgType::kWriteReq, 3, 0, kF, 9));
  auto s = sent(a);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].type, MsgType::kInval);
  EXPECT_EQ(s[0].to, 1);
}

TEST(MsiNodeDown, AwaitedAckFromADeadSharerCountsAsReceived) {
  auto h = make("msi-home", 0);
  home_shares(*h, 1);
  home_shares(*h, 2);
  Actions a = deliver(*h, request(MsgType::kWriteReq, 3, 0, kF, 9));
  EXPECT_EQ(count(a, ActionType::kSend), 2u);  // Inval to 1 and 2
  Version v = dir(*h, kF).version;
  deliver(*h, msg(MsgType::kInvalAck, 1, 0, kF, v));
  EXPECT_TRUE(dir(*h, kF).busy());
  // Node 2 was killed before it acknowledged: the writer gets its grant.
  a = node_down(*h, 2);
  Message g = only_sent(a);
  EXPECT_EQ(g.type, MsgType::kWriteGrant);
  EXPECT_EQ(g.to, 3);
  EXPECT_FALSE(dir(*h, kF).busy());
  EXPECT_EQ(dir(*h, kF).state, DirState::kModified);
  EXPECT_EQ(dir(*h, kF).owner, 3);
  EXPECT_EQ(h->stats().acks_waived, 1u);
}

TEST(MsiNodeDown, DeadOwnerMakesTheFrameLostAndRequestsAreAnsweredLost) {
  auto h = make("msi-home", 0);
  deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 5));
  ASSERT_EQ(dir(*h, kF).state, DirState::kModified);
  // A reader waits behind the recall of the owner...
  Actions a = deliver(*h, request(MsgType::kReadReq, 2, 0, kF, 6));
  EXPECT_EQ(only_sent(a).type, MsgType::kRecall);
  // ...which dies with the only current copy.
  a = node_down(*h, 1);
  Message lost = only_sent(a);
  EXPECT_EQ(lost.type, MsgType::kLost);
  EXPECT_EQ(lost.to, 2);
  EXPECT_EQ(lost.req, 6u);
  EXPECT_EQ(dir(*h, kF).state, DirState::kLost);
  EXPECT_FALSE(dir(*h, kF).busy());
  EXPECT_EQ(h->stats().lost_frames, 1u);
  // Later requests get the same answer, never the stale home copy.
  a = deliver(*h, request(MsgType::kWriteReq, 3, 0, kF, 8));
  EXPECT_EQ(only_sent(a).type, MsgType::kLost);
  EXPECT_FALSE(find(a, ActionType::kInstall));
  // The home's own access fails too.
  a = fault(*h, kF, Access::kRead);
  EXPECT_TRUE(find(a, ActionType::kFail));
  EXPECT_FALSE(find(a, ActionType::kInstall));
  EXPECT_TRUE(h->view(kF).lost);
}

TEST(MsiNodeDown, WriterThatDiesDuringItsInvalidationRoundIsNotGranted) {
  auto h = make("msi-home", 0);
  home_shares(*h, 1);
  deliver(*h, request(MsgType::kWriteReq, 2, 0, kF, 9));
  ASSERT_TRUE(dir(*h, kF).busy());
  node_down(*h, 2);
  Actions a = deliver(*h, msg(MsgType::kInvalAck, 1, 0, kF, dir(*h, kF).version));
  EXPECT_TRUE(sent(a).empty());  // no grant to the dead writer
  EXPECT_FALSE(dir(*h, kF).busy());
  EXPECT_NE(dir(*h, kF).state, DirState::kModified);
  // The frame lives on: the next reader is served from the home copy.
  a = deliver(*h, request(MsgType::kReadReq, 3, 0, kF, 4));
  EXPECT_EQ(only_sent(a).type, MsgType::kReadGrant);
}

TEST(MsiNodeDown, QueuedRequestOfADeadNodeIsDropped) {
  auto h = make("msi-home", 0);
  deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 5));
  deliver(*h, request(MsgType::kReadReq, 2, 0, kF, 6));  // recall of 1 starts
  deliver(*h, request(MsgType::kReadReq, 3, 0, kF, 7));  // queued
  node_down(*h, 3);
  Actions a = deliver(*h, msg(MsgType::kRecallReply, 1, 0, kF, dir(*h, kF).version), true);
  auto s = sent(a);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].to, 2);  // only the live reader is served
  EXPECT_EQ(dir(*h, kF).copyset & node_bit(3), 0u);
}

TEST(MsiNodeDown, MessageFromADeadNodeIsRejectedAndCounted) {
  auto h = make("msi-home", 0);
  node_down(*h, 2);
  Actions out;
  base::Status st = h->on_message(request(MsgType::kReadReq, 2, 0, kF, 1), &out);
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(h->stats().from_down, 1u);
  EXPECT_EQ(h->stats().rejected, 1u);
  EXPECT_EQ(dir(*h, kF).copyset, 0u);
  EXPECT_TRUE(h->node_is_down(2));
}

TEST(MsiNodeDown, RejoinedNodeIsANewEmptyNode) {
  auto h = make("msi-home", 0);
  home_shares(*h, 2);
  node_down(*h, 2);
  node_down(*h, 2);  // repeated: harmless
  EXPECT_EQ(h->stats().nodes_down, 1u);
  h->on_node_up(2, nullptr);
  EXPECT_FALSE(h->node_is_down(2));
  // Its requests are served again; a writer does not wait for its old copy.
  Actions a = deliver(*h, request(MsgType::kWriteReq, 3, 0, kF, 2));
  EXPECT_EQ(only_sent(a).type, MsgType::kWriteGrant);
  a = deliver(*h, request(MsgType::kReadReq, 2, 0, kF, 1));
  EXPECT_EQ(only_sent(a).type, MsgType::kRecall);
}

// --- msi-home, at a requester -----------------------------------------------

TEST(MsiNodeDown, RequestOutstandingToADeadHomeFails) {
  auto r = make("msi-home", 1);
  fault(*r, kF, Access::kRead);
  Actions a = node_down(*r, 0);
  EXPECT_TRUE(find(a, ActionType::kFail));
  EXPECT_TRUE(r->view(kF).lost);
  EXPECT_EQ(r->view(kF).pending, Access::kNone);
  EXPECT_EQ(r->stats().failed_faults, 1u);
  // The retry timer finds nothing to resend.
  EXPECT_TRUE(sent(timeout(*r, kF)).empty());
  // Later faults fail at once, with no message.
  a = fault(*r, kF, Access::kWrite);
  EXPECT_TRUE(find(a, ActionType::kFail));
  EXPECT_TRUE(sent(a).empty());
  // Frames of the dead home this node never touched are lost too.
  EXPECT_TRUE(r->view(2).lost);
}

TEST(MsiNodeDown, SharedCopyOfADeadHomeStaysReadableButAWriteFails) {
  auto r = make("msi-home", 1);
  Message req = only_sent(fault(*r, kF, Access::kRead));
  deliver(*r, msg(MsgType::kReadGrant, 0, 1, kF, 0, req.req), true);
  node_down(*r, 0);
  EXPECT_FALSE(r->view(kF).lost);
  Actions a = fault(*r, kF, Access::kRead);
  EXPECT_TRUE(find(a, ActionType::kComplete));
  Actions ev;
  EXPECT_FALSE(r->on_evict(kF, &ev).ok());  // the only copy left: kept
  a = fault(*r, kF, Access::kWrite);
  EXPECT_TRUE(find(a, ActionType::kDrop));
  EXPECT_TRUE(find(a, ActionType::kFail));
  EXPECT_TRUE(sent(a).empty());
  EXPECT_TRUE(r->view(kF).lost);
}

TEST(MsiNodeDown, ModifiedCopyOfADeadHomeStaysWritable) {
  auto r = make("msi-home", 1);
  Message req = only_sent(fault(*r, kF, Access::kWrite));
  deliver(*r, msg(MsgType::kWriteGrant, 0, 1, kF, 1, req.req), true);
  node_down(*r, 0);
  Actions a = fault(*r, kF, Access::kWrite);
  EXPECT_TRUE(find(a, ActionType::kComplete));
  EXPECT_FALSE(r->view(kF).lost);
}

TEST(MsiNodeDown, LostAnswerFailsTheRequest) {
  auto r = make("msi-home", 1);
  Message req = only_sent(fault(*r, kF, Access::kRead));
  Actions a = deliver(*r, msg(MsgType::kLost, 0, 1, kF, 0, req.req));
  EXPECT_TRUE(find(a, ActionType::kFail));
  EXPECT_FALSE(find(a, ActionType::kInstall));
  EXPECT_TRUE(r->view(kF).lost);
  // A stale Lost (another request) changes nothing.
  auto r2 = make("msi-home", 2);
  Message req2 = only_sent(fault(*r2, kF, Access::kRead));
  a = deliver(*r2, msg(MsgType::kLost, 0, 2, kF, 0, req2.req + 5));
  EXPECT_FALSE(find(a, ActionType::kFail));
  EXPECT_EQ(r2->view(kF).pending, Access::kRead);
}

TEST(MsiNodeDown, LostFromANodeThatIsNotTheHomeIsRejected) {
  auto r = make("msi-home", 1);
  Message req = only_sent(fault(*r, kF, Access::kRead));
  Actions out;
  EXPECT_FALSE(r->on_message(msg(MsgType::kLost, 2, 1, kF, 0, req.req), &out).ok());
  EXPECT_FALSE(r->view(kF).lost);
}

// --- ivy-dynamic ------------------------------------------------------------

const IvyEntry& ivy(const Protocol& p, FrameId f) {
  return static_cast<const IvyDynamic&>(p).entry(f);
}

TEST(IvyNodeDown, OwnerCountsADeadSharersAckAsReceived) {
  auto h = make("ivy-dynamic", 0);  // the home owns kF
  deliver(*h, request(MsgType::kReadReq, 1, 0, kF, 3));
  deliver(*h, request(MsgType::kReadReq, 2, 0, kF, 4));
  Actions a = fault(*h, kF, Access::kWrite);
  EXPECT_EQ(count(a, ActionType::kSend), 2u);
  EXPECT_TRUE(ivy(*h, kF).busy());
  deliver(*h, msg(MsgType::kInvalAck, 1, 0, kF, ivy(*h, kF).version));
  a = node_down(*h, 2);
  auto done = find(a, ActionType::kComplete);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->access, Access::kWrite);
  EXPECT_EQ(h->view(kF).state, LocalState::kModified);
  EXPECT_EQ(h->stats().acks_waived, 1u);
}

TEST(IvyNodeDown, HandoffToADeadNodeLosesTheFrame) {
  auto h = make("ivy-dynamic", 0);
  deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 3));  // ownership to 1
  ASSERT_TRUE(ivy(*h, kF).busy());
  Actions a = deliver(*h, request(MsgType::kReadReq, 2, 0, kF, 4));  // queued
  a = node_down(*h, 1);
  Message lost = only_sent(a);
  EXPECT_EQ(lost.type, MsgType::kLost);
  EXPECT_EQ(lost.to, 2);
  EXPECT_TRUE(h->view(kF).lost);
  a = fault(*h, kF, Access::kRead);
  EXPECT_TRUE(find(a, ActionType::kFail));
}

TEST(IvyNodeDown, PointerToADeadNodeLosesTheFrameHere) {
  auto r = make("ivy-dynamic", 2);
  // Node 2 learns that node 1 owns kF (an invalidation from it).
  Message req = only_sent(fault(*r, kF, Access::kRead));
  deliver(*r, msg(MsgType::kReadGrant, 0, 2, kF, 0, req.req), true);
  deliver(*r, msg(MsgType::kInval, 1, 2, kF, 1));
  fault(*r, kF, Access::kRead);
  ASSERT_EQ(ivy(*r, kF).prob_owner, 1);
  Actions a = node_down(*r, 1);
  EXPECT_TRUE(find(a, ActionType::kFail));
  EXPECT_TRUE(sent(a).empty());
  EXPECT_TRUE(r->view(kF).lost);
  // Requests forwarded to us end here.
  a = deliver(*r, request(MsgType::kReadReq, 3, 2, kF, 8));
  EXPECT_EQ(only_sent(a).type, MsgType::kLost);
  // Frames whose chain does not lead to node 1 are untouched.
  EXPECT_FALSE(r->view(2).lost);
}

TEST(IvyNodeDown, HomeWhosePointerLeadsToTheDeadNodeDeclaresTheFrameLost) {
  auto h = make("ivy-dynamic", 0);
  Actions a = deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 3));
  deliver(*h, msg(MsgType::kInval, 1, 0, kF, ivy(*h, kF).version + 1));  // 1 took it
  ASSERT_FALSE(ivy(*h, kF).owner());
  node_down(*h, 1);
  EXPECT_TRUE(h->view(kF).lost);
  a = deliver(*h, request(MsgType::kReadReq, 3, 0, kF, 8));
  EXPECT_EQ(only_sent(a).type, MsgType::kLost);
}

TEST(IvyNodeDown, DeadHomeFailsARequesterWithoutACopy) {
  auto r = make("ivy-dynamic", 1);
  fault(*r, kF, Access::kRead);
  Actions a = node_down(*r, 0);
  EXPECT_TRUE(find(a, ActionType::kFail));
  EXPECT_TRUE(r->view(kF).lost);
  Actions out;
  EXPECT_FALSE(r->on_message(msg(MsgType::kReadGrant, 0, 1, kF, 0, 1), &out).ok());
  EXPECT_EQ(r->stats().from_down, 1u);
}

TEST(IvyNodeDown, HandbackToADeadHomeLosesTheFrame) {
  auto r = make("ivy-dynamic", 1);
  Message req = only_sent(fault(*r, kF, Access::kWrite));
  deliver(*r, msg(MsgType::kWriteGrant, 0, 1, kF, 1, req.req), true);
  ASSERT_EQ(r->view(kF).state, LocalState::kModified);
  Actions ev;
  ASSERT_TRUE(r->on_evict(kF, &ev).ok());  // hand-back to home 0 in flight
  // The home may have taken it and passed it on before it died: our
  // read-only copy may be stale.
  Actions a = node_down(*r, 0);
  EXPECT_TRUE(find(a, ActionType::kDrop));
  EXPECT_FALSE(ivy(*r, kF).owner());
  EXPECT_FALSE(ivy(*r, kF).busy());
  EXPECT_TRUE(r->view(kF).lost);
  EXPECT_TRUE(find(fault(*r, kF, Access::kRead), ActionType::kFail));
}

TEST(IvyNodeDown, LostNodeRefusesALateGrant) {
  auto r = make("ivy-dynamic", 2);
  Message req = only_sent(fault(*r, kF, Access::kWrite));
  node_down(*r, 0);  // the home died: lost here
  ASSERT_TRUE(r->view(kF).lost);
  // Node 3, which owned it, grants our old request: refused, not ignored,
  // so node 3 takes its ownership back instead of re-sending forever.
  Actions a = deliver(*r, msg(MsgType::kWriteGrant, 3, 2, kF, 5, req.req), true);
  Message refused = only_sent(a);
  EXPECT_EQ(refused.type, MsgType::kGrantRefused);
  EXPECT_EQ(refused.to, 3);
  EXPECT_FALSE(find(a, ActionType::kInstall));
}

// --- first-touch, both protocols ---------------------------------------------

class FirstTouchNodeDown : public ::testing::TestWithParam<std::string> {
 protected:
  static constexpr FrameId kFt = 2;  // its arbiter (interleave home) is node 2
  void SetUp() override {
    auto made = make_placement("first-touch", std::vector<uint64_t>(4, 1), 8);
    ASSERT_TRUE(made.ok());
    std::shared_ptr<const Placement> p = std::move(made).value();
    ASSERT_EQ(p->home_of(kFt), 2);
    for (NodeId n = 0; n < 4; ++n) {
      ProtocolConfig cfg;
      cfg.self = n;
      cfg.node_count = 4;
      cfg.frame_count = 8;
      cfg.placement = p;
      auto proto = make_protocol(GetParam(), cfg);
      ASSERT_TRUE(proto.ok());
      nodes_.push_back(std::move(proto).value());
    }
  }
  // `claimant` reads kFt: its claim goes to `arbiter`, whose one message back
  // is returned.
  static Message arbiter_answer(Protocol& claimant, Protocol& arbiter) {
    Message claim = only_sent(fault(claimant, kFt, Access::kRead));
    EXPECT_EQ(claim.type, MsgType::kClaim);
    return only_sent(deliver(arbiter, claim));
  }
  std::vector<std::unique_ptr<Protocol>> nodes_;
};

TEST_P(FirstTouchNodeDown, ClaimToADeadArbiterFails) {
  Protocol& r = *nodes_[1];
  Actions a = fault(r, kFt, Access::kRead);
  ASSERT_EQ(only_sent(a).type, MsgType::kClaim);
  a = node_down(r, 2);
  EXPECT_TRUE(find(a, ActionType::kFail));
  EXPECT_EQ(r.view(kFt).pending, Access::kNone);
  // Later faults fail too: nobody can decide the home any more.
  a = fault(r, kFt, Access::kWrite);
  EXPECT_TRUE(find(a, ActionType::kFail));
  EXPECT_TRUE(sent(a).empty());
}

TEST_P(FirstTouchNodeDown, WinnerThatNeverHeardItWonAnswersLost) {
  // Node 1 won frame kFt at the arbiter, but the reply died with it;
  // node 3 learned the home (node 1) and asks it.
  Protocol& winner = *nodes_[1];
  node_down(winner, 2);
  Message req = request(MsgType::kReadReq, 3, 1, kFt, 5);
  Actions a = deliver(winner, req);
  Message lost = only_sent(a);
  EXPECT_EQ(lost.type, MsgType::kLost);
  EXPECT_EQ(lost.to, 3);
  EXPECT_EQ(lost.req, 5u);
}

TEST_P(FirstTouchNodeDown, RestartedArbiterDecidesNothing) {
  // Node 2 restarted: whatever its previous incarnation decided is gone.
  Protocol& arbiter = *nodes_[2];
  node_down(arbiter, 2);
  Protocol& claimant = *nodes_[1];  // not told of the restart yet
  Message lost = arbiter_answer(claimant, arbiter);
  EXPECT_EQ(lost.type, MsgType::kLost);
  EXPECT_EQ(lost.to, 1);
  Actions a = deliver(claimant, lost);
  EXPECT_TRUE(find(a, ActionType::kFail)) << "the claim would be retried forever";
  EXPECT_EQ(claimant.view(kFt).pending, Access::kNone);
  // Its own faults on frames it arbitrates fail at once.
  a = fault(arbiter, kFt, Access::kWrite);
  EXPECT_TRUE(find(a, ActionType::kFail));
  EXPECT_TRUE(sent(a).empty());
}

TEST_P(FirstTouchNodeDown, RestartedNodeTheArbiterNamesHomeHomesNothing) {
  // Node 1's previous incarnation won kFt; the arbiter (node 2) remembers.
  Protocol& restarted = *nodes_[1];
  Protocol& arbiter = *nodes_[2];
  node_down(restarted, 1);
  Message reply = arbiter_answer(restarted, arbiter);
  ASSERT_EQ(reply.type, MsgType::kClaimReply);
  ASSERT_EQ(reply.requester, 1);
  Actions a = deliver(restarted, reply);
  EXPECT_TRUE(find(a, ActionType::kFail)) << "a restarted node served a frame it homed";
  EXPECT_FALSE(find(a, ActionType::kInstall));
  EXPECT_EQ(restarted.home_of(kFt), 1);
  // Others the arbiter sends to it are answered Lost.
  a = deliver(restarted, request(MsgType::kReadReq, 3, 1, kFt, 4));
  Message lost = only_sent(a);
  EXPECT_EQ(lost.type, MsgType::kLost);
  EXPECT_EQ(lost.to, 3);
}

INSTANTIATE_TEST_SUITE_P(Protocols, FirstTouchNodeDown,
                         ::testing::Values("msi-home", "ivy-dynamic"), protocol_test_name);

// --- a node that restarted (on_node_down(self)), both protocols -------------

class RestartedNode : public ::testing::TestWithParam<std::string> {};

TEST_P(RestartedNode, ServesNothingItHomesButStillAsksOthers) {
  // Node 0 homes every frame. A fresh node 0 serves the zero page...
  auto fresh = make(GetParam(), 0);
  Actions a = deliver(*fresh, request(MsgType::kReadReq, 2, 0, kF, 3));
  ASSERT_EQ(only_sent(a).type, MsgType::kReadGrant);
  // ...but a restarted one must not: its frames died with the old process.
  auto h = make(GetParam(), 0);
  node_down(*h, 0);
  node_down(*h, 0);  // repeated: harmless
  EXPECT_EQ(h->stats().nodes_down, 1u);
  for (MsgType t : {MsgType::kReadReq, MsgType::kWriteReq}) {
    a = deliver(*h, request(t, 2, 0, kF, 3));
    Message lost = only_sent(a);
    EXPECT_EQ(lost.type, MsgType::kLost) << to_string(t);
    EXPECT_EQ(lost.to, 2);
    EXPECT_EQ(lost.req, 3u);
  }
  a = fault(*h, kF, Access::kRead);
  EXPECT_TRUE(find(a, ActionType::kFail));
  EXPECT_FALSE(find(a, ActionType::kInstall));
  EXPECT_TRUE(sent(a).empty());
  // A restarted requester still asks the home of frames it does not home.
  auto r = make(GetParam(), 1);
  node_down(*r, 1);
  a = fault(*r, kF, Access::kRead);
  Message req = only_sent(a);
  EXPECT_EQ(req.type, MsgType::kReadReq);
  EXPECT_EQ(req.to, 0);
}

INSTANTIATE_TEST_SUITE_P(Protocols, RestartedNode, ::testing::Values("msi-home", "ivy-dynamic"),
                         protocol_test_name);

}  // namespace
}  // namespace dsm::protocol
