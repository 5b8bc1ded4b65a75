#include "dsm/protocol/placement.h"

#include <gtest/gtest.h>

#include <map>
#include <vector>

namespace dsm::protocol {
namespace {

std::vector<uint64_t> histogram(const Placement& p, uint64_t frames) {
  std::vector<uint64_t> h(p.node_count());
  for (FrameId f = 0; f < frames; ++f) h.at(p.home_of(f))++;
  return h;
}

TEST(Interleave, EqualWeightsRoundRobin) {
  auto p = InterleavePlacement::Create({1, 1, 1});
  ASSERT_TRUE(p.ok());
  for (FrameId f = 0; f < 9; ++f) EXPECT_EQ((*p)->home_of(f), f % 3);
}

TEST(Interleave, WeightedByMemoryGiven) {
  // 2 GiB, 1 GiB, 1 GiB: node 0 homes half the frames.
  auto p = InterleavePlacement::Create({2ull << 30, 1ull << 30, 1ull << 30});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(histogram(**p, 4000), (std::vector<uint64_t>{2000, 1000, 1000}));
  // Spread, not in runs: node 0 never homes 3 frames in a row.
  for (FrameId f = 0; f + 2 < 100; ++f) {
    EXPECT_FALSE((*p)->home_of(f) == 0 && (*p)->home_of(f + 1) == 0 && (*p)->home_of(f + 2) == 0);
  }
}

TEST(Interleave, NodeGivingNothingHomesNothing) {
  auto p = InterleavePlacement::Create({0, 3, 1});
  ASSERT_TRUE(p.ok());
  auto h = histogram(**p, 400);
  EXPECT_EQ(h[0], 0u);
  EXPECT_EQ(h[1], 300u);
  EXPECT_EQ(h[2], 100u);
}

TEST(Interleave, CoprimeHugeWeightsAreRounded) {
  auto p = InterleavePlacement::Create({1000003, 999983});
  ASSERT_TRUE(p.ok());
  auto h = histogram(**p, 100000);
  EXPECT_NEAR(static_cast<double>(h[0]) / 100000, 0.5, 0.01);
  EXPECT_GT(h[1], 0u);
}

TEST(Interleave, RejectsBadWeights) {
  EXPECT_FALSE(InterleavePlacement::Create({}).ok());
  EXPECT_FALSE(InterleavePlacement::Create({0, 0}).ok());
  EXPECT_FALSE(InterleavePlacement::Create(std::vector<uint64_t>(65, 1)).ok());
}

TEST(Range, ContiguousSharesInNodeOrder) {
  auto p = RangePlacement::Create({1, 2, 1}, 100);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->home_of(0), 0);
  EXPECT_EQ((*p)->home_of(24), 0);
  EXPECT_EQ((*p)->home_of(25), 1);
  EXPECT_EQ((*p)->home_of(74), 1);
  EXPECT_EQ((*p)->home_of(75), 2);
  EXPECT_EQ((*p)->home_of(99), 2);
  EXPECT_EQ((*p)->home_of(1000), 2);  // beyond the region: the last range
  EXPECT_EQ(histogram(**p, 100), (std::vector<uint64_t>{25, 50, 25}));
}

TEST(Range, SkipsNodesGivingNothing) {
  auto p = RangePlacement::Create({0, 1, 0, 1}, 10);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(histogram(**p, 10), (std::vector<uint64_t>{0, 5, 0, 5}));
}

// The placement only names the arbiters (the interleave homes); who wins a
// frame is the protocols' run-time state (first_touch_test.cc).
TEST(FirstTouch, ArbitersAreTheInterleaveHomes) {
  auto p = FirstTouchPlacement::Create({2, 1, 1}, 8);
  auto il = InterleavePlacement::Create({2, 1, 1});
  ASSERT_TRUE(p.ok() && il.ok());
  EXPECT_TRUE((*p)->homes_by_claim());
  EXPECT_FALSE((*il)->homes_by_claim());
  for (FrameId f = 0; f < 16; ++f) EXPECT_EQ((*p)->home_of(f), (*il)->home_of(f)) << f;
}

TEST(MakePlacement, ByName) {
  for (const char* n : {"interleave", "range", "first-touch"}) {
    auto p = make_placement(n, {1, 1}, 16);
    ASSERT_TRUE(p.ok()) << n;
    EXPECT_EQ((*p)->name(), n);
    EXPECT_EQ((*p)->node_count(), 2);
  }
  auto bad = make_placement("random", {1}, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("random"), std::string::npos);
}

}  // namespace
}  // namespace dsm::protocol
