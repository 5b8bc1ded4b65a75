#include "rpc/loopback_transport.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <stdexcept>

#include "rpc/test_util.h"

namespace rpc {
namespace {

using testing::echo_request;
using testing::serve_echo;
using testing::wait_for;

// Nodes of one loopback network sharing a secret (tests replace an end to
// restart that node).
struct TwoNodes {
  LoopbackNetwork net{{"n0", "n1"}};
  std::unique_ptr<Transport> a = net.attach(0, "s").value();
  std::unique_ptr<Transport> b = net.attach(1, "s").value();
};
struct ThreeNodes {
  LoopbackNetwork net{{"n0", "n1", "n2"}};
  std::unique_ptr<Transport> a = net.attach(0, "s").value();
  std::unique_ptr<Transport> b = net.attach(1, "s").value();
  std::unique_ptr<Transport> c = net.attach(2, "s").value();
};

std::vector<std::byte> pattern_page(int seed) {
  std::vector<std::byte> page(base::kPageSize);
  for (size_t i = 0; i < page.size(); ++i) page[i] = std::byte((i * 31 + seed) & 0xff);
  return page;
}

TEST(Loopback, RequestResponseWithPage) {
  TwoNodes nodes;
  auto& [net, a, b] = nodes;
  serve_echo(*b);
  auto page = pattern_page(3);
  auto reply = echo_request(*a, 1, 17, page.data());
  ASSERT_TRUE(reply.ok) << reply.error;
  EXPECT_EQ(reply.sequence, 17u);
  EXPECT_EQ(reply.page, page);
  EXPECT_TRUE(a->authenticated(1));
  EXPECT_TRUE(b->authenticated(0));
  EXPECT_EQ(a->counters().rejected(), 0u);
  EXPECT_EQ(b->counters().rejected(), 0u);
}

TEST(Loopback, OneWayBeforeHandshakeIsDeliveredAfterIt) {
  TwoNodes nodes;
  auto& [net, a, b] = nodes;
  std::atomic<int> got{0};
  b->set_handler(BodyKind::DSM, [&](const Incoming& in) {
    if (in.from == 0 && in.header.getBody().getDsm().size() == 3) got++;
  });
  for (int i = 0; i < 5; ++i) {
    OutMessage m;
    const uint8_t blob[3] = {1, 2, 3};
    m.header().initBody().setDsm(kj::arrayPtr(blob, 3));
    ASSERT_TRUE(a->send(1, m).ok());
  }
  EXPECT_TRUE(wait_for([&] { return got == 5; }));
}

TEST(Loopback, WrongSecretIsRefusedAndOthersUnaffected) {
  LoopbackNetwork net({"n0", "n1", "n2"});
  auto a = net.attach(0, "right").value();
  auto b = net.attach(1, "right").value();
  auto evil = net.attach(2, "wrong").value();
  serve_echo(*a);
  serve_echo(*b);
  serve_echo(*evil);
  RequestOptions quick{std::chrono::milliseconds(100), 1};
  auto r = echo_request(*evil, 0, 1, nullptr, quick);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.code, ETIMEDOUT);
  auto r2 = echo_request(*a, 2, 1, nullptr, quick);
  EXPECT_FALSE(r2.ok);
  EXPECT_FALSE(a->authenticated(2));
  EXPECT_FALSE(evil->authenticated(0));
  EXPECT_GT(a->peer_counters(2).auth_failures, 0u);
  // The rest of the cluster works.
  auto ok = echo_request(*a, 1, 2, nullptr);
  EXPECT_TRUE(ok.ok) << ok.error;
  EXPECT_EQ(a->peer_counters(1).rejected(), 0u);
}

TEST(Loopback, MalformedAndUnauthenticatedFramesAreCounted) {
  LoopbackNetwork net({"n0", "n1"});
  auto a = net.attach(0, "s").value();
  std::atomic<int> delivered{0};
  a->set_handler(BodyKind::ECHO, [&](const Incoming&) { delivered++; });
  // Garbage.
  std::vector<uint64_t> junk(4, 0x4141414141414141ull);
  net.deliver(-1, 0, junk, 32);
  // A garbage header behind a valid trailer.
  std::vector<uint64_t> bad(5, 0xffffffffffffffffull);
  uint32_t trailer[2] = {32, kFrameMagic};
  std::memcpy(&bad[4], trailer, 8);
  net.deliver(-1, 0, bad, 40);
  // A well-formed Echo claiming to be n1, with a made-up tag.
  OutMessage m;
  auto h = m.header();
  h.setSender(1);
  h.setAuthTag(12345);
  h.initBody().initEcho();
  std::vector<uint64_t> frame(kMaxHeadBytes / 8);
  auto len = encode_head(
      m.builder(), std::span<std::byte>(reinterpret_cast<std::byte*>(frame.data()), kMaxHeadBytes));
  ASSERT_TRUE(len.ok());
  net.deliver(-1, 0, frame, *len);
  ASSERT_TRUE(wait_for([&] {
    auto c = a->counters();
    return c.rejected_malformed >= 2 && c.rejected_unauthenticated >= 1;
  }));
  EXPECT_EQ(a->peer_counters(1).rejected_unauthenticated, 1u);
  EXPECT_EQ(delivered, 0);
}

TEST(Loopback, ThrowingHandlerDoesNotStopTheTransport) {
  TwoNodes nodes;
  auto& [net, a, b] = nodes;
  b->set_handler(BodyKind::DSM, [](const Incoming&) { throw std::runtime_error("handler bug"); });
  serve_echo(*b);
  OutMessage m;
  m.header().initBody().setDsm(kj::ArrayPtr<const uint8_t>());
  ASSERT_TRUE(a->send(1, m).ok());
  auto r = echo_request(*a, 1, 5, nullptr);
  EXPECT_TRUE(r.ok) << r.error;
}

TEST(Loopback, RestartedPeerIsReachableAgain) {
  TwoNodes nodes;
  auto& [net, a, b] = nodes;
  serve_echo(*b);
  ASSERT_TRUE(echo_request(*a, 1, 1, nullptr).ok);
  b.reset();
  RequestOptions quick{std::chrono::milliseconds(50), 0};
  EXPECT_FALSE(echo_request(*a, 1, 2, nullptr, quick).ok);
  b = net.attach(1, "s").value();
  serve_echo(*b);
  auto r = echo_request(*a, 1, 3, nullptr, {std::chrono::milliseconds(200), 5});
  EXPECT_TRUE(r.ok) << r.error;
  // And the restarted side can call us.
  serve_echo(*a);
  EXPECT_TRUE(echo_request(*b, 0, 4, nullptr).ok);
}

void send_blob(Transport& t, NodeId to, uint8_t tag) {
  OutMessage m;
  const uint8_t blob[1] = {tag};
  m.header().initBody().setDsm(kj::arrayPtr(blob, 1));
  ASSERT_TRUE(t.send(to, m).ok());
}

TEST(Loopback, RestartIsReportedBeforeTheNewIncarnationIsHeard) {
  TwoNodes nodes;
  auto& [net, a, b] = nodes;
  std::atomic<int> got{0}, restarts{0}, heard_at_restart{-1};
  a->set_handler(BodyKind::DSM, [&](const Incoming& in) {
    if (in.from == 1) got++;
  });
  a->set_restart_observer([&](NodeId peer, Transport::Incarnation what) {
    if (peer != 1 || what != Transport::Incarnation::kPeerRestarted) return;
    heard_at_restart = got.load();
    restarts++;
  });
  serve_echo(*b);
  ASSERT_TRUE(echo_request(*a, 1, 1, nullptr).ok);
  EXPECT_EQ(restarts, 0) << "a first session is no restart";
  send_blob(*b, 0, 1);
  ASSERT_TRUE(wait_for([&] { return got == 1; }));

  // b dies with nothing said and comes back at once: a never saw it silent.
  b.reset();
  b = net.attach(1, "s").value();
  for (uint8_t i = 0; i < 3; ++i) send_blob(*b, 0, i);
  ASSERT_TRUE(wait_for([&] { return got == 4; }));
  EXPECT_EQ(restarts, 1);
  EXPECT_EQ(heard_at_restart, 1) << "a message of the new incarnation came before the report";
  EXPECT_EQ(a->peer_counters(1).restarts, 1u);

  // The same incarnation handshaking again (its session forgotten) is none.
  a->forget_peer(1);
  serve_echo(*b);
  ASSERT_TRUE(echo_request(*a, 1, 2, nullptr, {std::chrono::milliseconds(200), 5}).ok);
  EXPECT_EQ(restarts, 1);
}

TEST(Loopback, RestartedNodeIsToldItIsARestart) {
  ThreeNodes nodes;
  auto& [net, a, b, c] = nodes;
  std::atomic<int> b_told{0};
  auto count_self = [](std::atomic<int>& n) {
    return [&n](NodeId, Transport::Incarnation what) {
      if (what == Transport::Incarnation::kSelfRestarted) n++;
    };
  };
  b->set_restart_observer(count_self(b_told));
  serve_echo(*a);
  serve_echo(*c);
  ASSERT_TRUE(echo_request(*b, 0, 1, nullptr).ok);
  EXPECT_EQ(b_told, 0) << "a first incarnation is no restart";

  // b restarts. Its first handshake (with a) tells it; c never knew b, so
  // says nothing; a second peer that knew it does not tell it twice.
  b.reset();
  b = net.attach(1, "s").value();
  b->set_restart_observer(count_self(b_told));
  ASSERT_TRUE(echo_request(*b, 2, 2, nullptr).ok);
  EXPECT_EQ(b_told, 0) << "c never knew the old b";
  ASSERT_TRUE(echo_request(*b, 0, 3, nullptr).ok);
  EXPECT_EQ(b_told, 1);
  a->forget_peer(1);
  ASSERT_TRUE(echo_request(*b, 0, 4, nullptr, {std::chrono::milliseconds(200), 5}).ok);
  EXPECT_EQ(b_told, 1);

  // Told before anyone listened: reported when the observer is set.
  b.reset();
  b = net.attach(1, "s").value();
  ASSERT_TRUE(echo_request(*b, 0, 5, nullptr).ok);
  std::atomic<int> late{0};
  b->set_restart_observer(count_self(late));
  EXPECT_EQ(late, 1);
}

TEST(Loopback, DeclaredDeadIncarnationIsRefusedAndToldSoEitherWay) {
  ThreeNodes nodes;
  auto& [net, a, b, c] = nodes;
  std::atomic<int> b_fenced{0}, b_fenced_by{-1};
  auto fence_counter = [&](NodeId peer, Transport::Incarnation what) {
    if (what != Transport::Incarnation::kSelfDeclaredDead) return;
    b_fenced_by = peer;
    b_fenced++;
  };
  b->set_restart_observer(fence_counter);
  serve_echo(*a);
  serve_echo(*b);
  serve_echo(*c);
  ASSERT_TRUE(echo_request(*b, 0, 1, nullptr).ok);
  ASSERT_TRUE(echo_request(*b, 2, 1, nullptr).ok);

  // a's membership declared b dead (b stalled): b's process is refused for
  // good, whoever starts the handshake, and told so once.
  a->declare_dead(1);
  EXPECT_FALSE(a->authenticated(1));
  RequestOptions quick{std::chrono::milliseconds(100), 2};
  b->forget_peer(0);
  EXPECT_FALSE(echo_request(*b, 0, 2, nullptr, quick).ok);  // b's Hello: a's Challenge says so
  EXPECT_TRUE(wait_for([&] { return b_fenced == 1; }));
  EXPECT_EQ(b_fenced_by, 0);
  EXPECT_FALSE(echo_request(*a, 1, 3, nullptr, quick).ok);  // a's Hello: a's Proof says so
  EXPECT_FALSE(a->authenticated(1));
  EXPECT_GE(a->peer_counters(1).fenced, 2u);
  EXPECT_EQ(b_fenced, 1) << "told once";
  // c, which declared nothing, still talks to b.
  EXPECT_TRUE(echo_request(*c, 1, 4, nullptr).ok);

  // A new process for b is a new incarnation: taken back.
  b.reset();
  b = net.attach(1, "s").value();
  serve_echo(*b);
  EXPECT_TRUE(echo_request(*a, 1, 5, nullptr, {std::chrono::milliseconds(200), 5}).ok);
  EXPECT_TRUE(a->authenticated(1));
}

TEST(Loopback, FramesQueuedForADeadIncarnationAreDropped) {
  TwoNodes nodes;
  auto& [net, a, b] = nodes;
  serve_echo(*b);
  ASSERT_TRUE(echo_request(*a, 1, 1, nullptr).ok);
  b.reset();
  // a forgets the session (as membership does when b falls silent) and
  // queues two messages meant for the incarnation that died.
  a->forget_peer(1);
  send_blob(*a, 1, 7);
  send_blob(*a, 1, 8);
  b = net.attach(1, "s").value();
  std::atomic<int> old_frames{0}, new_frames{0};
  b->set_handler(BodyKind::DSM, [&](const Incoming& in) {
    if (in.from != 0) return;
    (in.header.getBody().getDsm()[0] == 9 ? new_frames : old_frames)++;
  });
  serve_echo(*b);
  // a's handshake (its Hello is retried) reaches the new b.
  ASSERT_TRUE(wait_for([&] { return a->peer_counters(1).restarts == 1; }));
  send_blob(*a, 1, 9);
  // Frames to a peer keep their order: the old ones would come first.
  ASSERT_TRUE(wait_for([&] { return new_frames == 1; }));
  EXPECT_EQ(old_frames, 0) << "the new incarnation received frames queued for the old one";
  EXPECT_EQ(a->peer_counters(1).queue_drops, 2u);
}

TEST(Loopback, FaultsAreSurvivedByRetries) {
  FaultOptions faults;
  faults.seed = 11;
  faults.drop = 0.2;
  faults.duplicate = 0.2;
  faults.reorder = 0.2;
  faults.delay_max = std::chrono::microseconds(500);
  LoopbackNetwork net({"n0", "n1"}, faults);
  auto a = net.attach(0, "s").value();
  auto b = net.attach(1, "s").value();
  serve_echo(*b);
  int ok = 0;
  std::atomic<int> callbacks{0};
  for (int i = 0; i < 30; ++i) {
    auto r = echo_request(*a, 1, i, nullptr, {std::chrono::milliseconds(30), 10});
    callbacks++;
    if (r.ok) {
      ok++;
      EXPECT_EQ(r.sequence, static_cast<uint64_t>(i));
    }
  }
  EXPECT_EQ(ok, 30);
  EXPECT_GT(net.dropped(), 0u);
  // Duplicated responses are counted, never delivered twice.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(a->counters().rejected(), a->counters().rejected_unauthenticated);
}

TEST(Loopback, IsolatedNodeIsCutOffAndRejoins) {
  ThreeNodes nodes;
  auto& [net, a, b, c] = nodes;
  serve_echo(*b);
  serve_echo(*c);
  ASSERT_TRUE(echo_request(*a, 1, 1, nullptr).ok);
  net.set_isolated(1, true);
  RequestOptions quick{std::chrono::milliseconds(50), 0};
  EXPECT_FALSE(echo_request(*a, 1, 2, nullptr, quick).ok);
  EXPECT_TRUE(echo_request(*a, 2, 3, nullptr).ok);
  net.set_isolated(1, false);
  EXPECT_TRUE(echo_request(*a, 1, 4, nullptr).ok);
}

TEST(FaultInjector, SameSeedSamePlan) {
  FaultOptions o;
  o.seed = 3;
  o.drop = 0.3;
  o.duplicate = 0.3;
  FaultInjector x(o), y(o);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(x.plan(), y.plan());
}

}  // namespace
}  // namespace rpc
