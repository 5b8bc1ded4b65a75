// The retry timeout's arithmetic (retry_timing.h): the RTT estimator and the
// backoff, with durations given by the test (no clock).

#include "dsm/region/retry_timing.h"

#include <gtest/gtest.h>

namespace dsm {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

TEST(RttEstimator, IsTheFloorBeforeAnySample) {
  RttEstimator e(milliseconds(20), milliseconds(1000));
  EXPECT_EQ(e.samples(), 0u);
  EXPECT_EQ(e.rto(), milliseconds(20));
}

TEST(RttEstimator, FastAnswersKeepTheFloor) {
  // An idle machine: 100 us round trips. A lost message must still be
  // retried after retry_interval, not later.
  RttEstimator e(milliseconds(10), milliseconds(1000));
  for (int i = 0; i < 100; ++i) e.sample(microseconds(100));
  EXPECT_EQ(e.rto(), milliseconds(10));
  EXPECT_EQ(e.srtt(), microseconds(100));
}

TEST(RttEstimator, FirstSampleSetsSrttAndHalfOfItAsVariance) {
  RttEstimator e(milliseconds(1), milliseconds(1000));
  e.sample(milliseconds(40));
  EXPECT_EQ(e.srtt(), milliseconds(40));
  EXPECT_EQ(e.rttvar(), milliseconds(20));
  EXPECT_EQ(e.rto(), milliseconds(40 + 4 * 20));
}

TEST(RttEstimator, FollowsSlowAnswersAndComesBack) {
  // Answers that queue (a loaded CPU, a deep read-ahead window) take 30 ms:
  // the timeout rises above them, so they are not re-sent.
  RttEstimator e(milliseconds(20), milliseconds(1000));
  e.sample(microseconds(200));
  for (int i = 0; i < 20; ++i) e.sample(milliseconds(30));
  EXPECT_GT(e.rto(), milliseconds(30));
  EXPECT_LT(e.rto(), milliseconds(60));
  // Steady again: SRTT and RTTVAR decay back, the timeout to its floor.
  for (int i = 0; i < 200; ++i) e.sample(microseconds(200));
  EXPECT_EQ(e.rto(), milliseconds(20));
}

TEST(RttEstimator, VarianceWidensTheTimeout) {
  // The same mean, one steady and one jittery: the jittery peer waits longer.
  RttEstimator steady(milliseconds(1), milliseconds(1000));
  RttEstimator jittery(milliseconds(1), milliseconds(1000));
  for (int i = 0; i < 64; ++i) {
    steady.sample(milliseconds(10));
    jittery.sample(milliseconds(i % 2 ? 2 : 18));
  }
  EXPECT_GT(jittery.rto(), steady.rto() + milliseconds(20));
}

TEST(RttEstimator, IsClampedToTheCeiling) {
  RttEstimator e(milliseconds(5), milliseconds(100));
  e.sample(std::chrono::seconds(3));
  EXPECT_EQ(e.rto(), milliseconds(100));
  e.sample(microseconds(-5));  // a clock oddity counts as zero
  EXPECT_EQ(e.rto(), milliseconds(100));
}

TEST(Backoff, DoublesPerUnansweredFireUpToTheCap) {
  const auto cap = milliseconds(1000);
  EXPECT_EQ(backoff(milliseconds(10), 0, cap), milliseconds(10));
  EXPECT_EQ(backoff(milliseconds(10), 1, cap), milliseconds(20));
  EXPECT_EQ(backoff(milliseconds(10), 3, cap), milliseconds(80));
  EXPECT_EQ(backoff(milliseconds(10), 6, cap), milliseconds(640));
  // At most kMaxBackoffShift doublings, however often it fired.
  EXPECT_EQ(backoff(milliseconds(1), 40, cap), milliseconds(1 << kMaxBackoffShift));
  // Never above the ceiling...
  EXPECT_EQ(backoff(milliseconds(300), 2, cap), cap);
  EXPECT_EQ(backoff(milliseconds(600), 6, cap), cap);
  // ...unless the timeout itself is (a ceiling below the floor).
  EXPECT_EQ(backoff(milliseconds(2000), 3, cap), milliseconds(2000));
}

TEST(Backoff, RetriesOfALostMessageStayPromptInTests) {
  // The faulty-transport tests use 5-10 ms: three losses in a row of one
  // request cost 10+20+40 ms, not a second.
  const auto cap = milliseconds(1000);
  std::chrono::nanoseconds waited{0};
  for (uint32_t shift = 0; shift < 3; ++shift) waited += backoff(milliseconds(10), shift, cap);
  EXPECT_EQ(waited, milliseconds(70));
}

DueFetch due(int sent_ms, int heard_ms, int now_ms, uint64_t seq, uint64_t oldest,
             uint32_t fired = 0) {
  const DueFetch::Time t0{};
  DueFetch f;
  f.sent = t0 + milliseconds(sent_ms);
  f.heard = t0 + milliseconds(heard_ms);
  f.now = t0 + milliseconds(now_ms);
  f.seq = seq;
  f.oldest = oldest;
  f.fired = fired;
  return f;
}

TEST(LooksQueued, BehindOlderFetchesOfAPeerThatIsAnswering) {
  // A deep read-ahead window: sent at 0, the peer answered the one before
  // at 19 ms, older fetches still wait: queued.
  EXPECT_TRUE(looks_queued(due(0, 19, 20, 500, 300), milliseconds(5)));
}

TEST(LooksQueued, NotWhenNothingOlderWaits) {
  // The oldest outstanding fetch: nothing is ahead of it, so it is lost
  // (or its answer is), and is re-sent.
  EXPECT_FALSE(looks_queued(due(0, 19, 20, 300, 300), milliseconds(5)));
}

TEST(LooksQueued, NotWhenThePeerWentQuiet) {
  // Heard from 12 ms ago: the others were answered long since, this one
  // was lost on the way (the faulty-transport tests' case).
  EXPECT_FALSE(looks_queued(due(0, 8, 20, 500, 300), milliseconds(5)));
  // Heard nothing since it was sent.
  EXPECT_FALSE(looks_queued(due(10, 9, 12, 500, 300), milliseconds(5)));
}

TEST(LooksQueued, AtMostThreeTimesInARow) {
  for (uint32_t fired = 0; fired < kMaxDeferShift; ++fired) {
    EXPECT_TRUE(looks_queued(due(0, 19, 20, 500, 300, fired), milliseconds(5)));
  }
  EXPECT_FALSE(looks_queued(due(0, 19, 20, 500, 300, kMaxDeferShift), milliseconds(5)));
}

}  // namespace
}  // namespace dsm
