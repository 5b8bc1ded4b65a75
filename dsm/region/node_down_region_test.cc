// Node failure with real Regions (fault engine, userfaultfd, protocol,
// driver) in one process over loopback, both protocols: a node "dies" (its
// Region is destroyed, nothing it held survives) and the others are told
// with Region::node_down, as the node daemon does when membership declares
// it dead. dsm/PROTOCOLS.md "Node failure".
//
// Placement "range" over 6 frames: node 0 homes frames 0-1, node 1 frames
// 2-3, node 2 frames 4-5.

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <string>

#include "dsm/fault/sigbus_test_util.h"
#include "dsm/region/region.h"
#include "dsm/region/region_test_util.h"

namespace dsm {
namespace {

using testing::Cluster;
using testing::Net;

constexpr uint64_t kPage = 4096;

uint32_t load(Region& r, uint64_t frame) {
  return std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(r.data() + frame * kPage)).load();
}
void store(Region& r, uint64_t frame, uint32_t v) {
  std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(r.data() + frame * kPage)).store(v);
}

// Touches `frame` of `r` (a read, or a write of `v`) on this thread; true
// when the access got SIGBUS (a lost frame) instead of completing.
bool access_gets_sigbus(Region& r, uint64_t frame, bool write, uint32_t v = 0) {
  return testing::gets_sigbus([&] {
    if (write) {
      store(r, frame, v);
    } else {
      (void)load(r, frame);
    }
  });
}

class NodeDownRegion : public ::testing::TestWithParam<std::string> {
 protected:
  std::unique_ptr<Cluster> cluster() {
    RegionConfig c;
    c.frames = 6;
    c.placement = "range";
    c.protocol = GetParam();
    c.retry_interval = std::chrono::milliseconds(5);
    auto cl = Cluster::make(Net::kLoopback, 3, c);
    EXPECT_NE(cl, nullptr);
    return cl;
  }
  // Node `n` dies: its Region goes, and the others are told.
  static void kill(Cluster& c, int n) {
    c.regions[n].reset();
    for (size_t i = 0; i < c.regions.size(); ++i) {
      if (c.regions[i]) c.regions[i]->node_down(static_cast<uint16_t>(n));
    }
  }
};

// The case: kill of a node that only read a frame homed elsewhere;
// the next writer would wait for its invalidation ack forever.
TEST_P(NodeDownRegion, WriterProceedsAfterAReaderDies) {
  auto c = cluster();
  store(*c->regions[0], 0, 11);
  ASSERT_EQ(load(*c->regions[2], 0), 11u);  // node 2 holds a Shared copy
  ASSERT_EQ(load(*c->regions[1], 0), 11u);
  kill(*c, 2);
  store(*c->regions[1], 0, 22);  // invalidates node 0's copy; node 2's is gone
  EXPECT_EQ(load(*c->regions[0], 0), 22u);
  EXPECT_EQ(load(*c->regions[1], 0), 22u);
  // Frames homed at the survivors are all still there.
  store(*c->regions[0], 2, 33);
  EXPECT_EQ(load(*c->regions[1], 2), 33u);
}

// The home of frame 0 dies; frame 0 was cached nowhere else: an access on
// another node gets SIGBUS, never zeros and never a hang. Frame 1 (same
// home) was read by node 1 first: still readable there, but lost on node 2.
TEST_P(NodeDownRegion, DeadHomesUncachedFrameGivesSigbus) {
  auto c = cluster();
  store(*c->regions[0], 0, 5);
  store(*c->regions[0], 1, 6);
  ASSERT_EQ(load(*c->regions[1], 1), 6u);
  kill(*c, 0);
  EXPECT_TRUE(access_gets_sigbus(*c->regions[1], 0, false));
  EXPECT_TRUE(access_gets_sigbus(*c->regions[2], 0, true, 1));
  EXPECT_FALSE(access_gets_sigbus(*c->regions[1], 1, false));
  EXPECT_EQ(load(*c->regions[1], 1), 6u);
  EXPECT_TRUE(access_gets_sigbus(*c->regions[2], 1, false));
  // Again: a lost frame stays lost (the page is poisoned).
  EXPECT_TRUE(access_gets_sigbus(*c->regions[1], 0, false));
  RegionStats s = c->regions[2]->stats();
  EXPECT_GE(s.proto.lost_frames, 2u);
  EXPECT_GE(s.proto.failed_faults, 2u);
  // Frames homed at the survivors work as before.
  store(*c->regions[1], 4, 9);
  EXPECT_EQ(load(*c->regions[2], 4), 9u);
}

// The only current copy of frame 0 (homed at node 0) was node 2's Modified
// one: node 2 dies, and the home's copy is stale. Readers get SIGBUS, not
// the stale bytes.
TEST_P(NodeDownRegion, DeadOwnersFrameIsLostNotStale) {
  auto c = cluster();
  store(*c->regions[0], 0, 1);
  store(*c->regions[2], 0, 2);  // node 2 owns it, Modified
  kill(*c, 2);
  EXPECT_TRUE(access_gets_sigbus(*c->regions[1], 0, false));
  EXPECT_TRUE(access_gets_sigbus(*c->regions[0], 0, false));
  EXPECT_GE(c->regions[0]->stats().proto.lost_frames, 1u);
}

INSTANTIATE_TEST_SUITE_P(Protocols, NodeDownRegion, ::testing::Values("msi-home", "ivy-dynamic"),
                         [](const auto& info) {
                           return info.param == "msi-home" ? std::string("MsiHome")
                                                           : std::string("IvyDynamic");
                         });

}  // namespace
}  // namespace dsm
