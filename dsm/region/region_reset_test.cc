// Region::reset (a new guest on long-running nodes): what the region held
// is gone everywhere, and the region works again from empty. Three Regions
// over the loopback network, both protocols.

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "dsm/protocol/test_util.h"
#include "dsm/region/region_test_util.h"

namespace dsm {
namespace {

using protocol::testing::protocol_test_name;
using testing::Cluster;
using testing::Net;

constexpr uint64_t kFrames = 48;
constexpr uint64_t kPage = 4096;

class RegionReset : public ::testing::TestWithParam<std::string> {};

TEST_P(RegionReset, ContentsAreGoneEverywhereAndTheRegionWorksAgain) {
  RegionConfig config;
  config.frames = kFrames;
  config.protocol = GetParam();
  auto c = Cluster::make(Net::kLoopback, 3, config);
  ASSERT_NE(c, nullptr);
  auto word = [&](int node, uint64_t frame) {
    return reinterpret_cast<volatile uint64_t*>(c->regions[node]->data() + frame * kPage);
  };
  // Frames homed on all three nodes, written on n0, cached on n1.
  for (uint64_t f = 0; f < kFrames; ++f) *word(0, f) = 1000 + f;
  for (uint64_t f = 0; f < kFrames; ++f) ASSERT_EQ(*word(1, f), 1000 + f);
  // n2 believes it restarted (it then homes nothing): a reset ends that too.
  c->regions[2]->node_down(2);

  const protocol::ProtocolStats before = c->regions[1]->stats().proto;
  ASSERT_GT(before.faults, 0u);
  for (auto& r : c->regions) r->reset();
  for (int n = 0; n < 3; ++n) {
    EXPECT_EQ(c->regions[n]->engine().resident(), 0u) << "n" << n;
  }
  // The statistics keep counting across the reset (`pangaea stats` never
  // goes back).
  const protocol::ProtocolStats after = c->regions[1]->stats().proto;
  EXPECT_EQ(after.faults, before.faults);
  EXPECT_EQ(after.sent, before.sent);
  EXPECT_EQ(after.received, before.received);
  // Every node reads zeros: no copy, no home copy of the old contents.
  for (int n = 0; n < 3; ++n) {
    for (uint64_t f = 0; f < kFrames; ++f) ASSERT_EQ(*word(n, f), 0u) << "n" << n << " f" << f;
  }
  // And the region is coherent again, n2's homes included.
  for (uint64_t f = 0; f < kFrames; ++f) *word(2, f) = 2000 + f;
  for (int n : {0, 1}) {
    for (uint64_t f = 0; f < kFrames; ++f) ASSERT_EQ(*word(n, f), 2000 + f) << "n" << n;
  }
  EXPECT_GT(c->regions[1]->stats().proto.faults, before.faults);
}

INSTANTIATE_TEST_SUITE_P(Protocols, RegionReset, ::testing::Values("msi-home", "ivy-dynamic"),
                         protocol_test_name);

}  // namespace
}  // namespace dsm
