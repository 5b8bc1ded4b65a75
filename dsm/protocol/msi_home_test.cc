// msi-home, one transition at a time. Node 0 is the home of every frame;
// nodes 1-3 are requesters.

#include "dsm/protocol/msi_home.h"

#include <gtest/gtest.h>

#include "dsm/protocol/test_util.h"

namespace dsm::protocol {
namespace {

using namespace dsm::protocol::testing;  // NOLINT

constexpr FrameId kF = 1;

const DirEntry& dir(const Protocol& p, FrameId f) {
  return static_cast<const MsiHome&>(p).directory(f);
}

// Drives requester `r` (node 1) to a Shared copy at version `v`.
void make_shared(Protocol& r, Version v = 0) {
  Message req = only_sent(fault(r, kF, Access::kRead));
  deliver(r, msg(MsgType::kReadGrant, 0, r.config().self, kF, v, req.req), true);
  ASSERT_EQ(r.view(kF).state, LocalState::kShared);
}

void make_modified(Protocol& r, Version v = 1) {
  Message req = only_sent(fault(r, kF, Access::kWrite));
  deliver(r, msg(MsgType::kWriteGrant, 0, r.config().self, kF, v, req.req), true);
  ASSERT_EQ(r.view(kF).state, LocalState::kModified);
}

// ---------------------------------------------------------------------------
// Requester side.

TEST(MsiHomeRequester, ReadMissSendsReadReqToHome) {
  auto r = make("msi-home", 1);
  Actions a = fault(*r, kF, Access::kRead);
  Message m = only_sent(a);
  EXPECT_EQ(m.type, MsgType::kReadReq);
  EXPECT_EQ(m.to, 0);
  EXPECT_EQ(m.from, 1);
  EXPECT_EQ(m.requester, 1);
  EXPECT_EQ(m.frame, kF);
  EXPECT_FALSE(m.has_copy);
  EXPECT_TRUE(find(a, ActionType::kArmTimer));
  EXPECT_EQ(r->view(kF).pending, Access::kRead);
  EXPECT_FALSE(find(a, ActionType::kComplete));
}

TEST(MsiHomeRequester, ReadGrantInstallsReadOnlyAndCompletes) {
  auto r = make("msi-home", 1);
  Message req = only_sent(fault(*r, kF, Access::kRead));
  Actions a = deliver(*r, msg(MsgType::kReadGrant, 0, 1, kF, 3, req.req), true);
  auto inst = find(a, ActionType::kInstall);
  ASSERT_TRUE(inst);
  EXPECT_EQ(inst->access, Access::kRead);
  EXPECT_EQ(inst->page, PageSource::kIncoming);
  auto done = find(a, ActionType::kComplete);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->access, Access::kRead);
  EXPECT_EQ(r->view(kF).state, LocalState::kShared);
  EXPECT_EQ(r->view(kF).version, 3u);
  EXPECT_EQ(r->view(kF).pending, Access::kNone);
}

TEST(MsiHomeRequester, ReadHitCompletesWithoutMessages) {
  auto r = make("msi-home", 1);
  make_shared(*r);
  Actions a = fault(*r, kF, Access::kRead);
  EXPECT_TRUE(sent(a).empty());
  ASSERT_TRUE(find(a, ActionType::kComplete));
}

TEST(MsiHomeRequester, WriteMissFetchesExclusive) {
  auto r = make("msi-home", 1);
  Message req = only_sent(fault(*r, kF, Access::kWrite));
  EXPECT_EQ(req.type, MsgType::kWriteReq);
  EXPECT_FALSE(req.has_copy);
  Actions a = deliver(*r, msg(MsgType::kWriteGrant, 0, 1, kF, 1, req.req), true);
  auto inst = find(a, ActionType::kInstall);
  ASSERT_TRUE(inst);
  EXPECT_EQ(inst->access, Access::kWrite);
  EXPECT_EQ(inst->page, PageSource::kIncoming);
  EXPECT_EQ(find(a, ActionType::kComplete)->access, Access::kWrite);
  EXPECT_EQ(r->view(kF).state, LocalState::kModified);
}

TEST(MsiHomeRequester, UpgradeKeepsTheSharedBytes) {
  auto r = make("msi-home", 1);
  make_shared(*r, 2);
  Message req = only_sent(fault(*r, kF, Access::kWrite));
  EXPECT_EQ(req.type, MsgType::kWriteReq);
  EXPECT_TRUE(req.has_copy);
  EXPECT_EQ(req.version, 2u);
  Actions a = deliver(*r, msg(MsgType::kWriteGrant, 0, 1, kF, 3, req.req));  // no page
  auto inst = find(a, ActionType::kInstall);
  ASSERT_TRUE(inst);
  EXPECT_EQ(inst->page, PageSource::kCache);
  EXPECT_EQ(inst->access, Access::kWrite);
  EXPECT_EQ(r->view(kF).state, LocalState::kModified);
}

TEST(MsiHomeRequester, ConcurrentFaultsCoalesceIntoOneRequest) {
  auto r = make("msi-home", 1);
  EXPECT_EQ(sent(fault(*r, kF, Access::kRead)).size(), 1u);
  EXPECT_TRUE(sent(fault(*r, kF, Access::kRead)).empty());
  EXPECT_TRUE(sent(fault(*r, kF, Access::kWrite)).empty());  // waits behind the read
  EXPECT_EQ(r->stats().coalesced, 2u);
  // The read completes, then the write is asked for as an upgrade.
  Actions a = deliver(*r, msg(MsgType::kReadGrant, 0, 1, kF, 0, 1), true);
  EXPECT_EQ(find(a, ActionType::kComplete)->access, Access::kRead);
  Message up = only_sent(a);
  EXPECT_EQ(up.type, MsgType::kWriteReq);
  EXPECT_TRUE(up.has_copy);
  EXPECT_EQ(r->view(kF).pending, Access::kWrite);
}

TEST(MsiHomeRequester, InvalidationDropsSharedCopyAndAcks) {
  auto r = make("msi-home", 1);
  make_shared(*r, 0);
  Actions a = deliver(*r, msg(MsgType::kInval, 0, 1, kF, 1));
  EXPECT_TRUE(find(a, ActionType::kDrop));
  Message ack = only_sent(a);
  EXPECT_EQ(ack.type, MsgType::kInvalAck);
  EXPECT_EQ(ack.version, 1u);
  EXPECT_EQ(r->view(kF).state, LocalState::kInvalid);
  EXPECT_EQ(r->stats().invalidations, 1u);
}

TEST(MsiHomeRequester, StaleInvalidationKeepsCopyButAcks) {
  auto r = make("msi-home", 1);
  make_shared(*r, 4);
  Actions a = deliver(*r, msg(MsgType::kInval, 0, 1, kF, 4));  // not newer than our copy
  EXPECT_FALSE(find(a, ActionType::kDrop));
  EXPECT_EQ(only_sent(a).type, MsgType::kInvalAck);
  EXPECT_EQ(r->view(kF).state, LocalState::kShared);
  EXPECT_EQ(r->stats().stale, 1u);
}

TEST(MsiHomeRequester, InvalidationOfAbsentCopyIsAcked) {
  auto r = make("msi-home", 2);  // lazy Shared eviction: never had it, or evicted
  Actions a = deliver(*r, msg(MsgType::kInval, 0, 2, kF, 5));
  EXPECT_EQ(only_sent(a).type, MsgType::kInvalAck);
  EXPECT_EQ(r->view(kF).version, 5u);
}

TEST(MsiHomeRequester, RecallDowngradesOwnerAndReturnsPage) {
  auto r = make("msi-home", 1);
  make_modified(*r, 1);
  Actions a = deliver(*r, msg(MsgType::kRecall, 0, 1, kF, 1));
  EXPECT_TRUE(find(a, ActionType::kWriteProtect));
  Message rep = only_sent(a);
  EXPECT_EQ(rep.type, MsgType::kRecallReply);
  EXPECT_TRUE(rep.has_page);
  EXPECT_EQ(page_of_send(a, MsgType::kRecallReply), PageSource::kCache);
  EXPECT_EQ(r->view(kF).state, LocalState::kShared);
  // A repeated recall gets the page again (the first reply may be lost).
  Actions again = deliver(*r, msg(MsgType::kRecall, 0, 1, kF, 1));
  EXPECT_TRUE(only_sent(again).has_page);
}

TEST(MsiHomeRequester, RecalledCopyIsWrittenBackNotDroppedOnEviction) {
  auto r = make("msi-home", 1);
  make_modified(*r, 1);
  deliver(*r, msg(MsgType::kRecall, 0, 1, kF, 1));
  Actions a;
  ASSERT_TRUE(r->on_evict(kF, &a).ok());
  EXPECT_FALSE(find(a, ActionType::kDrop));
  Message wb = only_sent(a);
  EXPECT_EQ(wb.type, MsgType::kWriteBack);
  EXPECT_TRUE(wb.has_page);
}

TEST(MsiHomeRequester, RecallOfUntakenEpochVoidsItsGrant) {
  auto r = make("msi-home", 1);
  Message req = only_sent(fault(*r, kF, Access::kWrite));
  // The recall overtakes the grant for epoch 3.
  Actions a = deliver(*r, msg(MsgType::kRecall, 0, 1, kF, 3));
  std::vector<Message> s = sent(a);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].type, MsgType::kRecallReply);
  EXPECT_FALSE(s[0].has_page);
  EXPECT_EQ(s[1].type, MsgType::kWriteReq);  // asks again at once
  EXPECT_EQ(s[1].req, req.req);
  Actions late = deliver(*r, msg(MsgType::kWriteGrant, 0, 1, kF, 3, req.req), true);
  EXPECT_FALSE(find(late, ActionType::kInstall));
  EXPECT_EQ(r->view(kF).state, LocalState::kInvalid);
  EXPECT_EQ(r->view(kF).pending, Access::kWrite);
}

TEST(MsiHomeRequester, EvictModifiedWritesBackAndKeepsBytesUntilAck) {
  auto r = make("msi-home", 1);
  make_modified(*r, 1);
  Actions a;
  ASSERT_TRUE(r->on_evict(kF, &a).ok());
  EXPECT_TRUE(find(a, ActionType::kWriteProtect));
  EXPECT_FALSE(find(a, ActionType::kDrop));
  Message wb = only_sent(a);
  EXPECT_EQ(wb.type, MsgType::kWriteBack);
  EXPECT_EQ(wb.version, 1u);
  EXPECT_EQ(page_of_send(a, MsgType::kWriteBack), PageSource::kCache);
  EXPECT_TRUE(r->view(kF).busy);
  // Lost? The timeout sends it again.
  EXPECT_EQ(only_sent(timeout(*r, kF)).type, MsgType::kWriteBack);
  Actions ack = deliver(*r, msg(MsgType::kWriteBackAck, 0, 1, kF, 1));
  EXPECT_TRUE(find(ack, ActionType::kDrop));
  EXPECT_EQ(r->view(kF).state, LocalState::kInvalid);
  EXPECT_FALSE(r->view(kF).busy);
}

TEST(MsiHomeRequester, WriteFaultDuringWriteBackWaitsForTheAck) {
  auto r = make("msi-home", 1);
  make_modified(*r, 1);
  Actions a;
  ASSERT_TRUE(r->on_evict(kF, &a).ok());
  EXPECT_TRUE(sent(fault(*r, kF, Access::kWrite)).empty());
  Actions ack = deliver(*r, msg(MsgType::kWriteBackAck, 0, 1, kF, 1));
  Message req = only_sent(ack);
  EXPECT_EQ(req.type, MsgType::kWriteReq);
  EXPECT_FALSE(req.has_copy);
}

// Regression: a stale invalidation during a write-back sent the deferred
// request early; its grant then left the frame writable with the write-back
// flag still set, and a later eviction kept it writable.
TEST(MsiHomeRequester, StaleInvalidationDuringWriteBackKeepsRequestDeferred) {
  auto r = make("msi-home", 1);
  make_modified(*r, 3);
  Actions a;
  ASSERT_TRUE(r->on_evict(kF, &a).ok());
  EXPECT_TRUE(sent(fault(*r, kF, Access::kWrite)).empty());
  Actions inv = deliver(*r, msg(MsgType::kInval, 0, 1, kF, 2));  // older epoch
  std::vector<Message> s = sent(inv);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].type, MsgType::kInvalAck);
  EXPECT_TRUE(r->view(kF).busy);
  EXPECT_EQ(r->view(kF).state, LocalState::kShared);
}

// Regression: a recall of a newer epoch ended a write-back but left the
// request that waited for it unsent for ever.
TEST(MsiHomeRequester, RecallEndingAWriteBackSendsTheWaitingRequest) {
  auto r = make("msi-home", 1);
  make_modified(*r, 3);
  Actions a;
  ASSERT_TRUE(r->on_evict(kF, &a).ok());
  EXPECT_TRUE(sent(fault(*r, kF, Access::kWrite)).empty());
  Actions rc = deliver(*r, msg(MsgType::kRecall, 0, 1, kF, 4));
  std::vector<Message> s = sent(rc);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].type, MsgType::kRecallReply);
  EXPECT_FALSE(s[0].has_page);
  EXPECT_EQ(s[1].type, MsgType::kWriteReq);
  EXPECT_FALSE(r->view(kF).busy);
}

TEST(MsiHomeRequester, EvictSharedIsSilent) {
  auto r = make("msi-home", 1);
  make_shared(*r);
  Actions a;
  ASSERT_TRUE(r->on_evict(kF, &a).ok());
  EXPECT_TRUE(find(a, ActionType::kDrop));
  EXPECT_TRUE(sent(a).empty());
  EXPECT_EQ(r->view(kF).state, LocalState::kInvalid);
}

TEST(MsiHomeRequester, EvictWithRequestInFlightIsRefused) {
  auto r = make("msi-home", 1);
  fault(*r, kF, Access::kRead);
  Actions a;
  base::Status st = r->on_evict(kF, &a);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), EBUSY);
  EXPECT_TRUE(a.empty());
}

TEST(MsiHomeRequester, TimeoutRetriesWithTheSameRequestId) {
  auto r = make("msi-home", 1);
  Message first = only_sent(fault(*r, kF, Access::kWrite));
  Actions a = timeout(*r, kF);
  Message again = only_sent(a);
  EXPECT_EQ(again.req, first.req);
  EXPECT_EQ(again.type, MsgType::kWriteReq);
  EXPECT_TRUE(find(a, ActionType::kArmTimer));
  EXPECT_EQ(r->stats().retries, 1u);
  // Nothing outstanding: a timeout does nothing.
  deliver(*r, msg(MsgType::kWriteGrant, 0, 1, kF, 1, first.req), true);
  EXPECT_TRUE(timeout(*r, kF).empty());
}

TEST(MsiHomeRequester, DuplicateGrantIsIgnored) {
  auto r = make("msi-home", 1);
  Message req = only_sent(fault(*r, kF, Access::kRead));
  deliver(*r, msg(MsgType::kReadGrant, 0, 1, kF, 0, req.req), true);
  Actions dup = deliver(*r, msg(MsgType::kReadGrant, 0, 1, kF, 0, req.req), true);
  EXPECT_TRUE(dup.empty());
  EXPECT_EQ(r->stats().stale, 1u);
}

TEST(MsiHomeRequester, StaleReadGrantAfterInvalidationIsRetried) {
  auto r = make("msi-home", 1);
  Message req = only_sent(fault(*r, kF, Access::kRead));
  deliver(*r, msg(MsgType::kInval, 0, 1, kF, 2));  // epoch 2 began
  Actions a = deliver(*r, msg(MsgType::kReadGrant, 0, 1, kF, 1, req.req), true);
  EXPECT_FALSE(find(a, ActionType::kInstall));
  EXPECT_EQ(only_sent(a).type, MsgType::kReadReq);
  EXPECT_EQ(r->view(kF).state, LocalState::kInvalid);
}

TEST(MsiHomeRequester, UnwantedWriteGrantIsRefused) {
  auto r = make("msi-home", 1);
  Actions a = deliver(*r, msg(MsgType::kWriteGrant, 0, 1, kF, 7, 99), true);
  Message refused = only_sent(a);
  EXPECT_EQ(refused.type, MsgType::kGrantRefused);
  EXPECT_EQ(refused.version, 7u);
  EXPECT_EQ(refused.req, 99u);
  EXPECT_FALSE(find(a, ActionType::kInstall));
}

TEST(MsiHomeRequester, RefusedUpgradeGrantIsAskedForAgainAsANewRequest) {
  // An upgrade grant (no page) after our Shared copy went: refused, and the
  // request re-sent with a new id, so the home's repeat of the refused
  // grant (it answers the granted id again) cannot meet the refusal.
  auto r = make("msi-home", 1);
  make_shared(*r);
  Message up = only_sent(fault(*r, kF, Access::kWrite));
  ASSERT_TRUE(up.has_copy);
  deliver(*r, msg(MsgType::kInval, 0, 1, kF, 1));  // the copy goes (epoch 1)
  Actions a = deliver(*r, msg(MsgType::kWriteGrant, 0, 1, kF, 2, up.req), false);
  auto msgs = sent(a);
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0].type, MsgType::kGrantRefused);
  EXPECT_EQ(msgs[0].req, up.req);
  EXPECT_EQ(msgs[1].type, MsgType::kWriteReq);
  EXPECT_GT(msgs[1].req, up.req);
  EXPECT_FALSE(msgs[1].has_copy);
  // The home's repeat of the refused grant (with the page) is stale now.
  Actions late = deliver(*r, msg(MsgType::kWriteGrant, 0, 1, kF, 2, up.req), true);
  EXPECT_FALSE(find(late, ActionType::kInstall));
  EXPECT_EQ(r->view(kF).pending, Access::kWrite);
}

TEST(MsiHomeRequester, RecallOfOurEpochWithoutACopySaysSo) {
  auto r = make("msi-home", 1);
  make_modified(*r, 2);
  Actions a;
  ASSERT_TRUE(r->on_evict(kF, &a).ok());
  deliver(*r, msg(MsgType::kWriteBackAck, 0, 1, kF, 2));         // the home has it
  Actions rc = deliver(*r, msg(MsgType::kRecall, 0, 1, kF, 2));  // a late duplicate
  Message rep = only_sent(rc);
  EXPECT_EQ(rep.type, MsgType::kRecallReply);
  EXPECT_FALSE(rep.has_page);
  // An older recall gets no answer at all.
  EXPECT_TRUE(sent(deliver(*r, msg(MsgType::kRecall, 0, 1, kF, 1))).empty());
}

TEST(MsiHomeRequester, StaleWriteBackAckIsIgnored) {
  auto r = make("msi-home", 1);
  make_modified(*r, 2);
  Actions a;
  ASSERT_TRUE(r->on_evict(kF, &a).ok());
  Actions old = deliver(*r, msg(MsgType::kWriteBackAck, 0, 1, kF, 1));
  EXPECT_TRUE(old.empty());
  EXPECT_TRUE(r->view(kF).busy);
  EXPECT_EQ(r->view(kF).state, LocalState::kShared);
}

TEST(MsiHomeRequester, InvalidationEndsAWriteBack) {
  // The home recalled our bytes while our write-back was on its way, then
  // started a new epoch: the copy may go.
  auto r = make("msi-home", 1);
  make_modified(*r, 2);
  Actions a;
  ASSERT_TRUE(r->on_evict(kF, &a).ok());
  Actions inv = deliver(*r, msg(MsgType::kInval, 0, 1, kF, 3));
  EXPECT_TRUE(find(inv, ActionType::kDrop));
  EXPECT_FALSE(r->view(kF).busy);
  EXPECT_EQ(r->view(kF).state, LocalState::kInvalid);
}

// ---------------------------------------------------------------------------
// Home side.

TEST(MsiHomeDirectory, EntryIsSixteenBytes) {
  EXPECT_EQ(sizeof(DirEntry), 16u);
  EXPECT_EQ(sizeof(LocalEntry), 16u);
}

TEST(MsiHomeDirectory, ReadReqIsGrantedFromTheHomeCopy) {
  auto h = make("msi-home", 0);
  Actions a = deliver(*h, request(MsgType::kReadReq, 2, 0, kF, 5));
  Message g = only_sent(a);
  EXPECT_EQ(g.type, MsgType::kReadGrant);
  EXPECT_EQ(g.to, 2);
  EXPECT_EQ(g.req, 5u);
  EXPECT_TRUE(g.has_page);
  EXPECT_EQ(page_of_send(a, MsgType::kReadGrant), PageSource::kHome);
  EXPECT_EQ(dir(*h, kF).state, DirState::kShared);
  EXPECT_EQ(dir(*h, kF).copyset, node_bit(2));
  // A retry is granted again, idempotently.
  deliver(*h, request(MsgType::kReadReq, 2, 0, kF, 5));
  EXPECT_EQ(dir(*h, kF).copyset, node_bit(2));
}

TEST(MsiHomeDirectory, WriteReqUncachedIsGrantedAtOnce) {
  auto h = make("msi-home", 0);
  Actions a = deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 5));
  Message g = only_sent(a);
  EXPECT_EQ(g.type, MsgType::kWriteGrant);
  EXPECT_EQ(g.version, 1u);
  EXPECT_TRUE(g.has_page);
  EXPECT_EQ(dir(*h, kF).state, DirState::kModified);
  EXPECT_EQ(dir(*h, kF).owner, 1);
  EXPECT_EQ(dir(*h, kF).version, 1u);
}

TEST(MsiHomeDirectory, WriteReqInvalidatesOtherSharersFirst) {
  auto h = make("msi-home", 0);
  deliver(*h, request(MsgType::kReadReq, 1, 0, kF, 1));
  deliver(*h, request(MsgType::kReadReq, 2, 0, kF, 1));
  deliver(*h, request(MsgType::kReadReq, 3, 0, kF, 1));
  Actions a = deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 2, 0, true));
  std::vector<Message> inv = sent(a);
  ASSERT_EQ(inv.size(), 2u);  // nodes 2 and 3, not the requester
  for (const Message& m : inv) {
    EXPECT_EQ(m.type, MsgType::kInval);
    EXPECT_EQ(m.version, 1u);
    EXPECT_NE(m.to, 1);
  }
  EXPECT_TRUE(dir(*h, kF).busy());
  EXPECT_TRUE(sent(deliver(*h, msg(MsgType::kInvalAck, 2, 0, kF, 1))).empty());
  // Lost ack: the timeout re-sends only to node 3.
  Message re = only_sent(timeout(*h, kF));
  EXPECT_EQ(re.type, MsgType::kInval);
  EXPECT_EQ(re.to, 3);
  Actions done = deliver(*h, msg(MsgType::kInvalAck, 3, 0, kF, 1));
  Message g = only_sent(done);
  EXPECT_EQ(g.type, MsgType::kWriteGrant);
  EXPECT_FALSE(g.has_page);  // an upgrade: node 1's copy is current
  EXPECT_EQ(dir(*h, kF).state, DirState::kModified);
  EXPECT_FALSE(dir(*h, kF).busy());
}

TEST(MsiHomeDirectory, UpgradeFromAnOldCopyGetsThePage) {
  auto h = make("msi-home", 0);
  deliver(*h, request(MsgType::kReadReq, 1, 0, kF, 1));
  // Node 1 claims a copy of epoch 7, which is not the home's.
  Actions a = deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 2, 7, true));
  EXPECT_TRUE(only_sent(a).has_page);
}

TEST(MsiHomeDirectory, ReadOfModifiedFrameRecallsTheOwner) {
  auto h = make("msi-home", 0);
  deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 1));
  Message rc = only_sent(deliver(*h, request(MsgType::kReadReq, 2, 0, kF, 1)));
  EXPECT_EQ(rc.type, MsgType::kRecall);
  EXPECT_EQ(rc.to, 1);
  EXPECT_EQ(rc.version, 1u);
  EXPECT_TRUE(dir(*h, kF).busy());
  EXPECT_EQ(only_sent(timeout(*h, kF)).type, MsgType::kRecall);
  Actions a = deliver(*h, msg(MsgType::kRecallReply, 1, 0, kF, 1), true);
  auto st = find(a, ActionType::kStore);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->page, PageSource::kIncoming);
  Message g = only_sent(a);
  EXPECT_EQ(g.type, MsgType::kReadGrant);
  EXPECT_EQ(g.to, 2);
  EXPECT_EQ(page_of_send(a, MsgType::kReadGrant), PageSource::kHome);
  EXPECT_EQ(dir(*h, kF).state, DirState::kShared);
  EXPECT_EQ(dir(*h, kF).copyset, node_bit(1) | node_bit(2));
}

TEST(MsiHomeDirectory, WriteOfModifiedFrameRecallsThenInvalidates) {
  auto h = make("msi-home", 0);
  deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 1));
  EXPECT_EQ(only_sent(deliver(*h, request(MsgType::kWriteReq, 2, 0, kF, 1))).type,
            MsgType::kRecall);
  Actions a = deliver(*h, msg(MsgType::kRecallReply, 1, 0, kF, 1), true);
  Message inv = only_sent(a);
  EXPECT_EQ(inv.type, MsgType::kInval);
  EXPECT_EQ(inv.to, 1);
  EXPECT_EQ(inv.version, 2u);
  Message g = only_sent(deliver(*h, msg(MsgType::kInvalAck, 1, 0, kF, 2)));
  EXPECT_EQ(g.type, MsgType::kWriteGrant);
  EXPECT_EQ(g.to, 2);
  EXPECT_TRUE(g.has_page);
  EXPECT_EQ(dir(*h, kF).owner, 2);
}

TEST(MsiHomeDirectory, RecallReplyWithoutPageKeepsTheHomeCopy) {
  auto h = make("msi-home", 0);
  deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 1));
  deliver(*h, request(MsgType::kReadReq, 2, 0, kF, 1));
  Actions a = deliver(*h, msg(MsgType::kRecallReply, 1, 0, kF, 1));
  EXPECT_FALSE(find(a, ActionType::kStore));
  EXPECT_EQ(only_sent(a).type, MsgType::kReadGrant);
}

TEST(MsiHomeDirectory, RequestsQueueWhileBusyAndAreServedInOrder) {
  auto h = make("msi-home", 0);
  deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 1));
  deliver(*h, request(MsgType::kReadReq, 2, 0, kF, 1));  // recall starts
  EXPECT_TRUE(sent(deliver(*h, request(MsgType::kReadReq, 3, 0, kF, 4))).empty());
  EXPECT_TRUE(sent(deliver(*h, request(MsgType::kReadReq, 3, 0, kF, 4))).empty());  // retry
  EXPECT_TRUE(sent(deliver(*h, request(MsgType::kReadReq, 2, 0, kF, 1))).empty());  // retry
  EXPECT_EQ(h->stats().queued, 1u);
  Actions a = deliver(*h, msg(MsgType::kRecallReply, 1, 0, kF, 1), true);
  std::vector<Message> g = sent(a);
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0].to, 2);
  EXPECT_EQ(g[1].to, 3);
  EXPECT_EQ(g[1].req, 4u);
}

TEST(MsiHomeDirectory, WriteBackStoresAndAcks) {
  auto h = make("msi-home", 0);
  deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 1));
  Actions a = deliver(*h, msg(MsgType::kWriteBack, 1, 0, kF, 1), true);
  EXPECT_TRUE(find(a, ActionType::kStore));
  Message ack = only_sent(a);
  EXPECT_EQ(ack.type, MsgType::kWriteBackAck);
  EXPECT_EQ(dir(*h, kF).state, DirState::kShared);
  // A duplicate write-back is acknowledged without storing old bytes.
  Actions dup = deliver(*h, msg(MsgType::kWriteBack, 1, 0, kF, 1), true);
  EXPECT_FALSE(find(dup, ActionType::kStore));
  EXPECT_EQ(only_sent(dup).type, MsgType::kWriteBackAck);
}

TEST(MsiHomeDirectory, WriteBackAnswersAPendingRecall) {
  auto h = make("msi-home", 0);
  deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 1));
  deliver(*h, request(MsgType::kReadReq, 2, 0, kF, 1));  // recall in flight
  Actions a = deliver(*h, msg(MsgType::kWriteBack, 1, 0, kF, 1), true);
  EXPECT_TRUE(find(a, ActionType::kStore));
  std::vector<Message> s = sent(a);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].type, MsgType::kWriteBackAck);
  EXPECT_EQ(s[1].type, MsgType::kReadGrant);
  EXPECT_FALSE(dir(*h, kF).busy());
}

TEST(MsiHomeDirectory, RequestsQueueBehindAnInvalidationRound) {
  auto h = make("msi-home", 0);
  deliver(*h, request(MsgType::kReadReq, 1, 0, kF, 1));
  deliver(*h, request(MsgType::kWriteReq, 2, 0, kF, 1));  // invalidates 1
  ASSERT_TRUE(dir(*h, kF).busy());
  EXPECT_TRUE(sent(deliver(*h, request(MsgType::kReadReq, 3, 0, kF, 1))).empty());
  Actions a = deliver(*h, msg(MsgType::kInvalAck, 1, 0, kF, 1));
  std::vector<Message> s = sent(a);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].type, MsgType::kWriteGrant);  // to 2
  EXPECT_EQ(s[1].type, MsgType::kRecall);      // 3's read now recalls 2
  EXPECT_EQ(s[1].to, 2);
}

TEST(MsiHomeDirectory, StaleRepliesAreIgnored) {
  auto h = make("msi-home", 0);
  deliver(*h, request(MsgType::kReadReq, 1, 0, kF, 1));
  deliver(*h, request(MsgType::kWriteReq, 2, 0, kF, 1));  // epoch 1, waits for 1's ack
  EXPECT_TRUE(deliver(*h, msg(MsgType::kInvalAck, 3, 0, kF, 1)).empty());         // not asked
  EXPECT_TRUE(deliver(*h, msg(MsgType::kInvalAck, 1, 0, kF, 0)).empty());         // old epoch
  EXPECT_TRUE(deliver(*h, msg(MsgType::kRecallReply, 1, 0, kF, 1)).empty());      // no recall
  EXPECT_TRUE(deliver(*h, msg(MsgType::kGrantRefused, 2, 0, kF, 1, 1)).empty());  // busy
  EXPECT_TRUE(dir(*h, kF).busy());
  EXPECT_EQ(h->stats().stale, 4u);
}

TEST(MsiHomeDirectory, GrantRefusedGivesOwnershipBack) {
  auto h = make("msi-home", 0);
  deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 1));
  deliver(*h, msg(MsgType::kGrantRefused, 1, 0, kF, 1, 1));
  EXPECT_EQ(dir(*h, kF).state, DirState::kShared);
  // The next reader is served from the home copy, no recall.
  EXPECT_EQ(only_sent(deliver(*h, request(MsgType::kReadReq, 2, 0, kF, 1))).type,
            MsgType::kReadGrant);
}

TEST(MsiHomeDirectory, TheGrantedRequestAgainGetsTheSameGrant) {
  // The owner asks again with the request it was granted for: its grant was
  // lost, or its timer fired while the grant queued. No recall, no new epoch.
  auto h = make("msi-home", 0);
  Message g = only_sent(deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 1)));
  ASSERT_EQ(g.type, MsgType::kWriteGrant);
  Actions a = deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 1));
  Message again = only_sent(a);
  EXPECT_EQ(again.type, MsgType::kWriteGrant);
  EXPECT_EQ(again.to, 1);
  EXPECT_EQ(again.version, g.version);
  EXPECT_EQ(again.req, 1u);
  EXPECT_EQ(find(a, ActionType::kSend)->page, PageSource::kHome);
  EXPECT_EQ(dir(*h, kF).state, DirState::kModified);
  EXPECT_FALSE(dir(*h, kF).busy());
}

TEST(MsiHomeDirectory, AnOlderRequestFromTheOwnerIsStale) {
  // A duplicate of the owner's read, which its write followed: answered long
  // ago. Recalling for it would take the frame from the owner for nothing.
  auto h = make("msi-home", 0);
  deliver(*h, request(MsgType::kReadReq, 1, 0, kF, 1));
  deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 2, 0, true));
  ASSERT_EQ(dir(*h, kF).state, DirState::kModified);
  const uint64_t stale_before = h->stats().stale;
  EXPECT_TRUE(sent(deliver(*h, request(MsgType::kReadReq, 1, 0, kF, 1))).empty());
  EXPECT_EQ(h->stats().stale, stale_before + 1);
  EXPECT_EQ(dir(*h, kF).state, DirState::kModified);
  EXPECT_FALSE(dir(*h, kF).busy());
}

TEST(MsiHomeDirectory, ANewRequestFromTheOwnerRecallsIt) {
  // A request id newer than the grant's (the owner refused that grant and
  // asks afresh): the owner may hold no copy; the recall settles it.
  auto h = make("msi-home", 0);
  deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 1));
  Message rc = only_sent(deliver(*h, request(MsgType::kWriteReq, 1, 0, kF, 2)));
  EXPECT_EQ(rc.type, MsgType::kRecall);
  EXPECT_EQ(rc.to, 1);
}

TEST(MsiHomeDirectory, HomeFaultsAreServedWithinTheCall) {
  auto h = make("msi-home", 0);
  Actions a = fault(*h, kF, Access::kWrite);
  EXPECT_TRUE(sent(a).empty());
  auto inst = find(a, ActionType::kInstall);
  ASSERT_TRUE(inst);
  EXPECT_EQ(inst->page, PageSource::kHome);
  EXPECT_EQ(inst->access, Access::kWrite);
  EXPECT_EQ(find(a, ActionType::kComplete)->access, Access::kWrite);
  EXPECT_EQ(h->view(kF).state, LocalState::kModified);
  EXPECT_EQ(dir(*h, kF).owner, 0);
  // Evicting the home's own Modified copy stores it in the home copy.
  Actions e;
  ASSERT_TRUE(h->on_evict(kF, &e).ok());
  auto st = find(e, ActionType::kStore);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->page, PageSource::kCache);
  EXPECT_TRUE(find(e, ActionType::kDrop));
  EXPECT_EQ(h->view(kF).state, LocalState::kInvalid);
}

TEST(MsiHomeDirectory, EndToEndThroughTwoNodes) {
  // Home 0 and requester 1, messages passed by hand: write on 1, read on 0.
  auto h = make("msi-home", 0, 2);
  auto r = make("msi-home", 1, 2);
  Message req = only_sent(fault(*r, kF, Access::kWrite));
  Actions g = deliver(*h, req);
  deliver(*r, only_sent(g), true);
  EXPECT_EQ(r->view(kF).state, LocalState::kModified);
  Actions a = fault(*h, kF, Access::kRead);
  Message rc = only_sent(a);
  EXPECT_EQ(rc.type, MsgType::kRecall);
  Message rep = only_sent(deliver(*r, rc));
  Actions done = deliver(*h, rep);
  EXPECT_TRUE(find(done, ActionType::kStore));
  EXPECT_EQ(find(done, ActionType::kComplete)->access, Access::kRead);
  EXPECT_EQ(h->view(kF).state, LocalState::kShared);
  EXPECT_EQ(r->view(kF).state, LocalState::kShared);
}

}  // namespace
}  // namespace dsm::protocol
