#include "dsm/fault/read_ahead.h"

#include <gtest/gtest.h>

namespace dsm {
namespace {

TEST(ReadAhead, RandomMissesFetchNothingAhead) {
  ReadAhead ra(64);
  for (uint64_t f : {10u, 50u, 3u, 90u, 41u}) EXPECT_EQ(ra.on_miss(f, 1000).count, 0u);
}

TEST(ReadAhead, SequentialRunGrowsWindowAndCountsHits) {
  ReadAhead ra(16, 4);
  EXPECT_EQ(ra.on_miss(100, 1000).count, 0u);
  auto d = ra.on_miss(101, 1000);  // a run: 4 ahead
  EXPECT_EQ(d.first, 102u);
  EXPECT_EQ(d.count, 4u);
  d = ra.on_miss(106, 1000);  // the reader went through 102..105 without faulting
  EXPECT_EQ(d.hits, 4u);
  EXPECT_EQ(d.first, 107u);
  EXPECT_EQ(d.count, 8u);
  d = ra.on_miss(115, 1000);
  EXPECT_EQ(d.count, 16u);
  d = ra.on_miss(131, 1000);
  EXPECT_EQ(d.count, 16u);  // capped
}

TEST(ReadAhead, StopsAtTheEndAndCanBeDisabled) {
  ReadAhead ra(64, 4);
  ra.on_miss(97, 100);
  auto d = ra.on_miss(98, 100);
  EXPECT_EQ(d.first, 99u);
  EXPECT_EQ(d.count, 1u);
  ReadAhead off(0);
  off.on_miss(1, 100);
  EXPECT_EQ(off.on_miss(2, 100).count, 0u);
}

TEST(ReadAhead, WithoutRoomNothingIsProposedOrCountedAsHit) {
  ReadAhead ra(16, 4);
  ra.on_miss(10, 1000);
  EXPECT_EQ(ra.on_miss(11, 1000).count, 4u);  // 12..15 proposed
  auto d = ra.on_miss(12, 1000, /*can_fetch=*/false);
  EXPECT_EQ(d.count, 0u);
  EXPECT_EQ(d.hits, 0u);
  d = ra.on_miss(13, 1000, false);  // the run goes on, frame by frame
  EXPECT_EQ(d.hits, 0u);
  d = ra.on_miss(14, 1000);
  EXPECT_GT(d.count, 0u);
}

TEST(ReadAhead, ReachingATriggerIssuesAWholeWindowPastTheIssuedEnd) {
  ReadAhead ra(8, 8);
  ra.on_miss(0, 1000);
  auto d = ra.on_miss(1, 1000);  // 2..9 ahead, trigger 2
  EXPECT_EQ(d.first, 2u);
  EXPECT_EQ(d.count, 8u);
  d = ra.on_miss(2, 1000);  // the reader reached the trigger: 10..17
  EXPECT_EQ(d.first, 10u);
  EXPECT_EQ(d.count, 8u);
  d = ra.on_miss(10, 1000);  // and the next one: 18..25, never a short window
  EXPECT_EQ(d.first, 18u);
  EXPECT_EQ(d.count, 8u);
  EXPECT_EQ(ra.on_miss(996, 1000).count, 0u);  // a new stream elsewhere
}

TEST(ReadAhead, TwoInterleavedStreams) {
  ReadAhead ra(8, 2);
  ra.on_miss(0, 1000);
  ra.on_miss(500, 1000);
  EXPECT_EQ(ra.on_miss(1, 1000).count, 2u);
  EXPECT_EQ(ra.on_miss(501, 1000).count, 2u);
}

}  // namespace
}  // namespace dsm
