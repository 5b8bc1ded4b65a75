// ivy-dynamic, one transition at a time. Node 0 is every frame's home, so
// it starts as the owner of the zero page; nodes 1-3 start pointing at it.

#include "dsm/protocol/ivy_dynamic.h"

#include <gtest/gtest.h>

#include "dsm/protocol/test_util.h"

namespace dsm::protocol {
namespace {

using namespace dsm::protocol::testing;  // NOLINT

constexpr FrameId kF = 2;

const IvyEntry& entry(const Protocol& p, FrameId f = kF) {
  return static_cast<const IvyDynamic&>(p).entry(f);
}

TEST(IvyDynamic, HomeStartsAsOwnerOfTheZeroPage) {
  auto h = make("ivy-dynamic", 0);
  auto r = make("ivy-dynamic", 1);
  EXPECT_TRUE(entry(*h).owner());
  EXPECT_FALSE(entry(*r).owner());
  EXPECT_EQ(entry(*r).prob_owner, 0);
  Actions a = fault(*h, kF, Access::kRead);
  EXPECT_TRUE(sent(a).empty());
  // The home copy, zero until a write reaches it.
  EXPECT_EQ(find(a, ActionType::kInstall)->page, PageSource::kHome);
  EXPECT_EQ(find(a, ActionType::kComplete)->access, Access::kRead);
}

TEST(IvyDynamic, OwnerWritesWithoutMessagesWhenAlone) {
  auto h = make("ivy-dynamic", 0);
  Actions a = fault(*h, kF, Access::kWrite);
  EXPECT_TRUE(sent(a).empty());
  EXPECT_EQ(h->view(kF).state, LocalState::kModified);
  EXPECT_EQ(a.back().type, ActionType::kComplete);
  EXPECT_EQ(a.back().access, Access::kWrite);
}

TEST(IvyDynamic, ReadMissAsksTheProbableOwner) {
  auto r = make("ivy-dynamic", 1);
  Actions a = fault(*r, kF, Access::kRead);
  Message m = only_sent(a);
  EXPECT_EQ(m.type, MsgType::kReadReq);
  EXPECT_EQ(m.to, 0);
  EXPECT_EQ(m.requester, 1);
  EXPECT_TRUE(find(a, ActionType::kArmTimer));
}

TEST(IvyDynamic, OwnerServesReadAndDowngrades) {
  auto h = make("ivy-dynamic", 0);
  fault(*h, kF, Access::kWrite);
  Actions a = deliver(*h, request(MsgType::kReadReq, 1, 0, kF, 7));
  EXPECT_TRUE(find(a, ActionType::kWriteProtect));
  Message g = only_sent(a);
  EXPECT_EQ(g.type, MsgType::kReadGrant);
  EXPECT_EQ(g.to, 1);
  EXPECT_EQ(g.req, 7u);
  // The home's bytes go to its home copy as its copy stops being writable,
  // and are served from there.
  EXPECT_EQ(find(a, ActionType::kStore)->page, PageSource::kCache);
  EXPECT_EQ(page_of_send(a, MsgType::kReadGrant), PageSource::kHome);
  EXPECT_EQ(h->view(kF).state, LocalState::kShared);
  EXPECT_EQ(entry(*h).copyset, node_bit(1));
  EXPECT_TRUE(entry(*h).owner());
}

TEST(IvyDynamic, UntouchedOwnerServesTheZeroPage) {
  auto h = make("ivy-dynamic", 0);
  Actions a = deliver(*h, request(MsgType::kReadReq, 1, 0, kF, 7));
  EXPECT_EQ(page_of_send(a, MsgType::kReadGrant), PageSource::kHome);
}

TEST(IvyDynamic, ReadGrantInstallsAndLearnsTheOwner) {
  auto r = make("ivy-dynamic", 1);
  Message req = only_sent(fault(*r, kF, Access::kRead));
  Actions a = deliver(*r, msg(MsgType::kReadGrant, 3, 1, kF, 4, req.req), true);
  EXPECT_EQ(find(a, ActionType::kInstall)->access, Access::kRead);
  EXPECT_EQ(find(a, ActionType::kComplete)->access, Access::kRead);
  EXPECT_EQ(entry(*r).prob_owner, 3);
  EXPECT_EQ(r->view(kF).version, 4u);
}

TEST(IvyDynamic, NonOwnerForwardsToItsProbableOwner) {
  auto r = make("ivy-dynamic", 1);
  Actions a = deliver(*r, request(MsgType::kWriteReq, 2, 1, kF, 9));
  Message f = only_sent(a);
  EXPECT_EQ(f.type, MsgType::kWriteReq);
  EXPECT_EQ(f.to, 0);
  EXPECT_EQ(f.from, 1);
  EXPECT_EQ(f.requester, 2);
  EXPECT_EQ(f.req, 9u);
  EXPECT_EQ(r->stats().forwards, 1u);
}

TEST(IvyDynamic, OwnRequestComingBackIsDropped) {
  auto r = make("ivy-dynamic", 1);
  Message req = only_sent(fault(*r, kF, Access::kRead));
  Actions a = deliver(*r, req.to == 1 ? req : request(MsgType::kReadReq, 1, 1, kF, req.req));
  EXPECT_TRUE(sent(a).empty());
  EXPECT_EQ(r->stats().stale, 1u);
}

TEST(IvyDynamic, WriteRequestMovesOwnershipAndCopyset) {
  auto h = make("ivy-dynamic", 0);
  fault(*h, kF, Access::kWrite);
  deliver(*h, request(MsgType::kReadReq, 3, 0, kF, 1));  // node 3 shares
  Actions a = deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 5));
  Message g = only_sent(a);
  EXPECT_EQ(g.type, MsgType::kWriteGrant);
  EXPECT_EQ(g.to, 1);
  EXPECT_EQ(g.version, 2u);  // epoch 1 was the home's own write
  EXPECT_TRUE(g.has_page);
  // The new owner must invalidate node 3 and us (we keep a read-only copy).
  EXPECT_EQ(g.copyset, node_bit(0) | node_bit(3));
  EXPECT_FALSE(entry(*h).owner());
  EXPECT_EQ(entry(*h).prob_owner, 1);
  EXPECT_TRUE(h->view(kF).busy);
  EXPECT_EQ(h->view(kF).state, LocalState::kShared);
}

TEST(IvyDynamic, NewOwnerInvalidatesThenWrites) {
  auto r = make("ivy-dynamic", 1);
  Message req = only_sent(fault(*r, kF, Access::kWrite));
  Message g = msg(MsgType::kWriteGrant, 0, 1, kF, 2, req.req);
  g.copyset = node_bit(0) | node_bit(3);
  Actions a = deliver(*r, g, true);
  EXPECT_EQ(find(a, ActionType::kInstall)->access, Access::kRead);  // read-only for now
  std::vector<Message> inv = sent(a);
  ASSERT_EQ(inv.size(), 2u);
  EXPECT_EQ(inv[0].type, MsgType::kInval);
  EXPECT_EQ(inv[0].version, 2u);
  EXPECT_TRUE(entry(*r).owner());
  EXPECT_NE(r->view(kF).state, LocalState::kModified);
  EXPECT_TRUE(sent(deliver(*r, msg(MsgType::kInvalAck, 0, 1, kF, 2))).empty());
  Message re = only_sent(timeout(*r, kF));  // node 3's ack is lost
  EXPECT_EQ(re.to, 3);
  Actions done = deliver(*r, msg(MsgType::kInvalAck, 3, 1, kF, 2));
  auto inst = find(done, ActionType::kInstall);
  ASSERT_TRUE(inst);
  EXPECT_EQ(inst->access, Access::kWrite);
  EXPECT_EQ(inst->page, PageSource::kCache);
  EXPECT_EQ(find(done, ActionType::kComplete)->access, Access::kWrite);
  EXPECT_EQ(r->view(kF).state, LocalState::kModified);
}

TEST(IvyDynamic, OldOwnerLetsGoOnInvalidation) {
  auto h = make("ivy-dynamic", 0);
  fault(*h, kF, Access::kWrite);
  deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 5));
  // Meanwhile node 2 asks the old owner: queued, not bounced.
  EXPECT_TRUE(sent(deliver(*h, request(MsgType::kReadReq, 2, 0, kF, 3))).empty());
  EXPECT_EQ(h->stats().queued, 1u);
  Actions a = deliver(*h, msg(MsgType::kInval, 1, 0, kF, 2));
  EXPECT_TRUE(find(a, ActionType::kDrop));
  std::vector<Message> s = sent(a);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].type, MsgType::kInvalAck);
  EXPECT_EQ(s[1].type, MsgType::kReadReq);  // the queued request, forwarded
  EXPECT_EQ(s[1].to, 1);
  EXPECT_EQ(s[1].requester, 2);
  EXPECT_FALSE(h->view(kF).busy);
  EXPECT_EQ(entry(*h).prob_owner, 1);
}

TEST(IvyDynamic, RetryReachingTheOldOwnerGetsTheGrantAgain) {
  auto h = make("ivy-dynamic", 0);
  fault(*h, kF, Access::kWrite);
  Message g1 = only_sent(deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 5)));
  Actions a = deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 5));
  Message g2 = only_sent(a);
  EXPECT_EQ(g2, g1);
  // And its own timeout re-sends it too.
  EXPECT_EQ(only_sent(timeout(*h, kF)).type, MsgType::kWriteGrant);
}

// Regression: an invalidation from an older owner (same epoch as ours)
// arrived during a hand-over and ended it early, so the old owner served
// requests as if the hand-over were done while the new owner also did.
TEST(IvyDynamic, StaleInvalidationDoesNotEndAHandOver) {
  auto h = make("ivy-dynamic", 0);
  fault(*h, kF, Access::kWrite);                          // epoch 1
  deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 5));  // hand-over to 1, epoch 2
  ASSERT_TRUE(h->view(kF).busy);
  Actions a = deliver(*h, msg(MsgType::kInval, 3, 0, kF, 1));  // from an epoch-1 owner
  EXPECT_EQ(only_sent(a).type, MsgType::kInvalAck);
  EXPECT_FALSE(find(a, ActionType::kDrop));
  EXPECT_TRUE(h->view(kF).busy);
  EXPECT_EQ(h->view(kF).state, LocalState::kShared);
}

TEST(IvyDynamic, MismatchedRefusalIsIgnored) {
  auto h = make("ivy-dynamic", 0);
  fault(*h, kF, Access::kWrite);
  Message g = only_sent(deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 5)));
  deliver(*h, msg(MsgType::kGrantRefused, 1, 0, kF, g.version, g.req + 1));  // other request
  deliver(*h, msg(MsgType::kGrantRefused, 2, 0, kF, g.version, g.req));      // other node
  EXPECT_FALSE(entry(*h).owner());
  EXPECT_TRUE(h->view(kF).busy);
  EXPECT_EQ(h->stats().stale, 2u);
}

TEST(IvyDynamic, OtherRequestsQueueDuringAHandOverOnce) {
  auto h = make("ivy-dynamic", 0);
  fault(*h, kF, Access::kWrite);
  deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 5));
  EXPECT_TRUE(sent(deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 6))).empty());  // new req of 1
  EXPECT_TRUE(sent(deliver(*h, request(MsgType::kReadReq, 2, 0, kF, 3))).empty());
  EXPECT_TRUE(sent(deliver(*h, request(MsgType::kReadReq, 2, 0, kF, 3))).empty());  // retry
  EXPECT_EQ(h->stats().queued, 2u);
}

TEST(IvyDynamic, InvalidationEndsAHandBack) {
  // The home took our hand-back and passed ownership on; its ack was lost.
  auto r = make("ivy-dynamic", 1);
  Message req = only_sent(fault(*r, kF, Access::kWrite));
  deliver(*r, msg(MsgType::kWriteGrant, 0, 1, kF, 1, req.req), true);
  Actions a;
  ASSERT_TRUE(r->on_evict(kF, &a).ok());
  Actions inv = deliver(*r, msg(MsgType::kInval, 2, 1, kF, 2));
  EXPECT_TRUE(find(inv, ActionType::kDrop));
  EXPECT_FALSE(r->view(kF).busy);
  EXPECT_EQ(entry(*r).prob_owner, 2);
  EXPECT_TRUE(deliver(*r, msg(MsgType::kHandbackAck, 0, 1, kF, 1)).empty());  // late ack
}

TEST(IvyDynamic, RefusedGrantReturnsOwnership) {
  auto h = make("ivy-dynamic", 0);
  fault(*h, kF, Access::kWrite);
  Message g = only_sent(deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 5)));
  deliver(*h, msg(MsgType::kGrantRefused, 1, 0, kF, g.version, g.req));
  EXPECT_TRUE(entry(*h).owner());
  EXPECT_FALSE(h->view(kF).busy);
  EXPECT_EQ(h->view(kF).version, g.version);  // the refused epoch is used up
}

TEST(IvyDynamic, UnwantedGrantIsRefused) {
  auto r = make("ivy-dynamic", 1);
  Actions a = deliver(*r, msg(MsgType::kWriteGrant, 3, 1, kF, 4, 77), true);
  Message m = only_sent(a);
  EXPECT_EQ(m.type, MsgType::kGrantRefused);
  EXPECT_EQ(m.to, 3);
  EXPECT_FALSE(entry(*r).owner());
}

TEST(IvyDynamic, UpgradeGrantWithoutPageKeepsTheCopy) {
  auto h = make("ivy-dynamic", 0);
  auto r = make("ivy-dynamic", 1);
  fault(*h, kF, Access::kRead);  // the owner holds a real copy, not the untouched zero page
  deliver(*r, only_sent(deliver(*h, only_sent(fault(*r, kF, Access::kRead)))), true);
  Message up = only_sent(fault(*r, kF, Access::kWrite));
  EXPECT_TRUE(up.has_copy);
  Actions ga = deliver(*h, up);
  Message g = only_sent(ga);
  EXPECT_FALSE(g.has_page);
  Actions a = deliver(*r, g);
  EXPECT_FALSE(find(a, ActionType::kInstall) &&
               find(a, ActionType::kInstall)->page == PageSource::kIncoming);
  Message inv = only_sent(a);  // the old owner
  EXPECT_EQ(inv.to, 0);
  Actions ack = deliver(*h, inv);
  Actions done = deliver(*r, only_sent(ack));
  EXPECT_EQ(r->view(kF).state, LocalState::kModified);
  EXPECT_EQ(find(done, ActionType::kInstall)->page, PageSource::kCache);
}

TEST(IvyDynamic, OwnerWriteInvalidatesSharers) {
  auto h = make("ivy-dynamic", 0);
  deliver(*h, request(MsgType::kReadReq, 1, 0, kF, 1));
  deliver(*h, request(MsgType::kReadReq, 2, 0, kF, 1));
  Actions a = fault(*h, kF, Access::kWrite);
  EXPECT_EQ(sent(a).size(), 2u);
  EXPECT_TRUE(h->view(kF).busy);
  deliver(*h, msg(MsgType::kInvalAck, 1, 0, kF, 1));
  Actions done = deliver(*h, msg(MsgType::kInvalAck, 2, 0, kF, 1));
  EXPECT_EQ(find(done, ActionType::kComplete)->access, Access::kWrite);
  EXPECT_EQ(h->view(kF).state, LocalState::kModified);
  EXPECT_EQ(entry(*h).copyset, 0u);
}

TEST(IvyDynamic, InvalidationUpdatesTheProbableOwner) {
  auto r = make("ivy-dynamic", 2);
  deliver(*r,
          only_sent(fault(*r, kF, Access::kRead)).type == MsgType::kReadReq
              ? msg(MsgType::kReadGrant, 0, 2, kF, 0, 1)
              : Message{},
          true);
  Actions a = deliver(*r, msg(MsgType::kInval, 3, 2, kF, 1));
  EXPECT_TRUE(find(a, ActionType::kDrop));
  EXPECT_EQ(entry(*r).prob_owner, 3);
  // An older invalidation is acknowledged but changes nothing.
  Actions old = deliver(*r, msg(MsgType::kInval, 1, 2, kF, 1));
  EXPECT_EQ(only_sent(old).type, MsgType::kInvalAck);
  EXPECT_EQ(entry(*r).prob_owner, 3);
}

TEST(IvyDynamic, EvictSharedIsSilent) {
  auto r = make("ivy-dynamic", 1);
  deliver(*r, msg(MsgType::kReadGrant, 0, 1, kF, 0, only_sent(fault(*r, kF, Access::kRead)).req),
          true);
  Actions a;
  ASSERT_TRUE(r->on_evict(kF, &a).ok());
  EXPECT_TRUE(find(a, ActionType::kDrop));
  EXPECT_TRUE(sent(a).empty());
}

TEST(IvyDynamic, EvictedOwnerHandsBackToTheHome) {
  auto r = make("ivy-dynamic", 1);
  Message req = only_sent(fault(*r, kF, Access::kWrite));
  deliver(*r, msg(MsgType::kWriteGrant, 0, 1, kF, 1, req.req), true);
  ASSERT_EQ(r->view(kF).state, LocalState::kModified);
  Actions a;
  ASSERT_TRUE(r->on_evict(kF, &a).ok());
  EXPECT_TRUE(find(a, ActionType::kWriteProtect));
  EXPECT_FALSE(find(a, ActionType::kDrop));
  Message hb = only_sent(a);
  EXPECT_EQ(hb.type, MsgType::kHandback);
  EXPECT_EQ(hb.to, 0);
  EXPECT_TRUE(hb.has_page);
  EXPECT_EQ(hb.copyset, node_bit(1));
  EXPECT_FALSE(entry(*r).owner());
  EXPECT_EQ(only_sent(timeout(*r, kF)).type, MsgType::kHandback);  // lost? again

  auto h = make("ivy-dynamic", 0);
  // The home gave ownership away earlier: make it a non-owner first.
  deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, req.req));
  deliver(*h, msg(MsgType::kInval, 1, 0, kF, 1));
  ASSERT_FALSE(entry(*h).owner());
  Actions ha = deliver(*h, hb);
  // Into the home copy: no budget slot, no cached page to depend on.
  EXPECT_FALSE(find(ha, ActionType::kInstall));
  EXPECT_EQ(find(ha, ActionType::kStore)->page, PageSource::kIncoming);
  EXPECT_EQ(only_sent(ha).type, MsgType::kHandbackAck);
  EXPECT_TRUE(entry(*h).owner());
  EXPECT_EQ(entry(*h).copyset, node_bit(1));
  // A duplicate is acknowledged, not installed again.
  Actions dup = deliver(*h, hb);
  EXPECT_FALSE(find(dup, ActionType::kInstall));
  EXPECT_EQ(only_sent(dup).type, MsgType::kHandbackAck);

  Actions ack = deliver(*r, msg(MsgType::kHandbackAck, 0, 1, kF, 1));
  EXPECT_TRUE(find(ack, ActionType::kDrop));
  EXPECT_EQ(r->view(kF).state, LocalState::kInvalid);
  EXPECT_EQ(entry(*r).prob_owner, 0);
}

TEST(IvyDynamic, HomeEvictsItsOwnFramesIntoItsHomeCopy) {
  auto h = make("ivy-dynamic", 0);
  fault(*h, kF, Access::kWrite);
  deliver(*h, request(MsgType::kReadReq, 1, 0, kF, 7));  // copyset {1}
  fault(*h, kF, Access::kWrite);
  deliver(*h, msg(MsgType::kInvalAck, 1, 0, kF, entry(*h).version));
  ASSERT_EQ(h->view(kF).state, LocalState::kModified);
  Actions a;
  ASSERT_TRUE(h->on_evict(kF, &a).ok());
  // Write-protect, the bytes into the home copy, then the cached copy goes;
  // ownership stays and nothing is sent.
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].type, ActionType::kWriteProtect);
  EXPECT_EQ(a[1].type, ActionType::kStore);
  EXPECT_EQ(a[1].page, PageSource::kCache);
  EXPECT_EQ(a[2].type, ActionType::kDrop);
  EXPECT_EQ(h->view(kF).state, LocalState::kInvalid);
  EXPECT_TRUE(entry(*h).owner());
  // Served from the home copy afterwards, locally and remotely.
  Actions r = fault(*h, kF, Access::kRead);
  EXPECT_EQ(find(r, ActionType::kInstall)->page, PageSource::kHome);
  Actions g = deliver(*h, request(MsgType::kReadReq, 1, 0, kF, 8));
  EXPECT_EQ(page_of_send(g, MsgType::kReadGrant), PageSource::kHome);
}

// Regression (Nets/RegionTest.SurvivesEvictions/FabricIvyDynamic spun for
// minutes): the home's read-ahead fetch of a frame was answered by a
// Handback arriving meanwhile, the home became the owner with its only
// bytes in a staged read-ahead page, and the engine dropped that page on
// eviction; every later fault on the frame found nothing (EIO) and faulted
// again. Now the hand-back goes into the home copy: the fetch is answered
// from there, the cached page is a copy that may go at any time, and grants
// are served from the home copy too (a staged page cannot be read back).
TEST(IvyDynamic, HandbackAnsweringAReadAheadLeavesTheHomeCopyAuthoritative) {
  auto h = make("ivy-dynamic", 0);
  auto r = make("ivy-dynamic", 1);
  // r takes the frame and writes it; h keeps nothing.
  Message wreq = only_sent(fault(*r, kF, Access::kWrite));
  Actions g = deliver(*h, wreq);
  Message inval = only_sent(deliver(*r, only_sent(g), true));
  deliver(*r, only_sent(deliver(*h, inval)));
  ASSERT_EQ(r->view(kF).state, LocalState::kModified);
  ASSERT_EQ(h->view(kF).state, LocalState::kInvalid);
  // h's read-ahead asks r; r evicts before the request arrives.
  Message rreq = only_sent(fault(*h, kF, Access::kRead));
  EXPECT_EQ(rreq.to, 1);
  Actions ev;
  ASSERT_TRUE(r->on_evict(kF, &ev).ok());
  Message hb = only_sent(ev);
  Actions ha = deliver(*h, hb);
  EXPECT_EQ(find(ha, ActionType::kStore)->page, PageSource::kIncoming);
  auto answer = find(ha, ActionType::kInstall);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->page, PageSource::kHome);
  EXPECT_EQ(find(ha, ActionType::kComplete)->access, Access::kRead);
  ASSERT_TRUE(entry(*h).owner());
  // The engine drops the unused read-ahead page: the protocol lets it.
  Actions drop;
  ASSERT_TRUE(h->on_evict(kF, &drop).ok());
  EXPECT_TRUE(find(drop, ActionType::kDrop));
  EXPECT_FALSE(find(drop, ActionType::kStore));  // the home copy has the bytes
  // r's request, still queued at r, and anyone else's are served from it.
  Actions rr = deliver(*h, request(MsgType::kReadReq, 2, 0, kF, 9));
  EXPECT_EQ(page_of_send(rr, MsgType::kReadGrant), PageSource::kHome);
  Actions wr = deliver(*h, request(MsgType::kWriteReq, 2, 0, kF, 10));
  EXPECT_EQ(page_of_send(wr, MsgType::kWriteGrant), PageSource::kHome);
}

TEST(IvyDynamic, EvictWithRequestInFlightIsRefused) {
  auto r = make("ivy-dynamic", 1);
  fault(*r, kF, Access::kWrite);
  Actions a;
  EXPECT_EQ(r->on_evict(kF, &a).error().code(), EBUSY);
  EXPECT_TRUE(a.empty());
}

TEST(IvyDynamic, TimeoutRetriesTheRequest) {
  auto r = make("ivy-dynamic", 1);
  Message first = only_sent(fault(*r, kF, Access::kRead));
  Message again = only_sent(timeout(*r, kF));
  EXPECT_EQ(again.req, first.req);
  EXPECT_EQ(again.to, first.to);
}

TEST(IvyDynamic, FaultsCoalesce) {
  auto r = make("ivy-dynamic", 1);
  EXPECT_EQ(sent(fault(*r, kF, Access::kRead)).size(), 1u);
  EXPECT_TRUE(sent(fault(*r, kF, Access::kWrite)).empty());
  Actions a = deliver(*r, msg(MsgType::kReadGrant, 0, 1, kF, 0, 1), true);
  EXPECT_EQ(find(a, ActionType::kComplete)->access, Access::kRead);
  EXPECT_EQ(only_sent(a).type, MsgType::kWriteReq);  // then the write
}

TEST(IvyDynamic, EndToEndOwnershipMovesAcrossThreeNodes) {
  std::vector<std::unique_ptr<Protocol>> p;
  for (NodeId n = 0; n < 3; ++n) p.push_back(make("ivy-dynamic", n, 3));
  // Pass messages until none are left; each node's actions checked at the end.
  std::vector<Message> net;
  auto run = [&](Actions a) {
    for (const Message& m : sent(a)) net.push_back(m);
    while (!net.empty()) {
      Message m = net.front();
      net.erase(net.begin());
      for (const Message& s : sent(deliver(*p[m.to], m))) net.push_back(s);
    }
  };
  run(fault(*p[1], kF, Access::kWrite));
  EXPECT_EQ(p[1]->view(kF).state, LocalState::kModified);
  run(fault(*p[2], kF, Access::kWrite));  // 2 asks 0, which forwards to 1
  EXPECT_EQ(p[2]->view(kF).state, LocalState::kModified);
  EXPECT_EQ(p[1]->view(kF).state, LocalState::kInvalid);
  EXPECT_GE(p[0]->stats().forwards, 1u);
  run(fault(*p[0], kF, Access::kRead));
  EXPECT_EQ(p[0]->view(kF).state, LocalState::kShared);
  EXPECT_EQ(p[2]->view(kF).state, LocalState::kShared);
  EXPECT_TRUE(entry(*p[2]).owner());
}

}  // namespace
}  // namespace dsm::protocol
