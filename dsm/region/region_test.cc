// Three Regions in one process, coherent over loopback, a faulty loopback
// (drops, duplicates, reordering) and libfabric on 127.0.0.1, with both
// protocols: written on one node, read on the others; after evictions;
// false sharing; a counter under a lock built on compare-and-swap in DSM
// memory.

#include "dsm/region/region.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <tuple>

#include "dsm/region/region_test_util.h"
#include "node/config.h"

namespace dsm {
namespace {

using testing::Cluster;
using testing::Net;

constexpr uint64_t kPage = 4096;

uint32_t* word(Region& r, uint64_t frame, uint64_t index) {
  return reinterpret_cast<uint32_t*>(r.data() + frame * kPage) + index;
}

uint32_t load(Region& r, uint64_t frame, uint64_t index) {
  return std::atomic_ref<uint32_t>(*word(r, frame, index)).load();
}

void store(Region& r, uint64_t frame, uint64_t index, uint32_t v) {
  std::atomic_ref<uint32_t>(*word(r, frame, index)).store(v);
}

// A spin lock in DSM memory. The compare-and-swap is a locked write: on a
// frame held read-only or not at all it faults for write first, so the lock
// word moves to the node that tries it.
void lock(Region& r, uint64_t frame) {
  std::atomic_ref<uint32_t> w(*word(r, frame, 0));
  for (;;) {
    uint32_t expected = 0;
    if (w.compare_exchange_strong(expected, 1, std::memory_order_acquire)) return;
    sched_yield();
  }
}

void unlock(Region& r, uint64_t frame) {
  std::atomic_ref<uint32_t>(*word(r, frame, 0)).store(0, std::memory_order_release);
}

// Three threads, one a node, begin their loops at once so they contend.
void start_together(std::atomic<int>& ready) {
  ready.fetch_add(1);
  while (ready.load() < 3) std::this_thread::yield();
}

class RegionTest : public ::testing::TestWithParam<std::tuple<Net, std::string>> {
 protected:
  Net net() const { return std::get<0>(GetParam()); }
  RegionConfig config(uint64_t frames) const {
    RegionConfig c;
    c.frames = frames;
    c.protocol = std::get<1>(GetParam());
    return c;
  }
  // Fewer rounds where every message costs a syscall or may be lost.
  int rounds(int fast) const { return net() == Net::kLoopback ? fast : fast / 2; }
  // Each cluster of this process uses its own ports (3 of the 4 given).
  int ports() {
    static int next = 0;
    return 4 * (next++ % 30);
  }
};

TEST_P(RegionTest, WrittenOnAReadOnBAndC) {
  auto c = Cluster::make(net(), 3, config(24), ports());
  ASSERT_TRUE(c);
  Region& a = *c->regions[0];
  for (uint64_t f = 0; f < 24; ++f) {
    for (uint64_t i = 0; i < 8; ++i) store(a, f, i * 64, static_cast<uint32_t>(f * 1000 + i + 1));
  }
  for (int n : {1, 2}) {
    Region& r = *c->regions[n];
    for (uint64_t f = 0; f < 24; ++f) {
      for (uint64_t i = 0; i < 8; ++i) {
        ASSERT_EQ(load(r, f, i * 64), f * 1000 + i + 1) << "node " << n << " frame " << f;
      }
    }
  }
  // A second write on C reaches A and B.
  store(*c->regions[2], 5, 0, 777);
  EXPECT_EQ(load(a, 5, 0), 777u);
  EXPECT_EQ(load(*c->regions[1], 5, 0), 777u);
  for (auto& r : c->regions) {
    EXPECT_EQ(r->stats().rejected(), 0u);
    EXPECT_EQ(r->stats().driver.page_errors, 0u);
  }
  EXPECT_GT(c->regions[1]->stats().engine.read_misses, 0u);
}

TEST_P(RegionTest, SurvivesEvictions) {
  // Over libfabric with ivy-dynamic this once livelocked: a hand-back
  // answered the home's read-ahead fetch, the home's only bytes of the frame
  // sat in a staged page the engine then dropped, and every later fault on
  // it failed and faulted again (see
  // IvyDynamic.HandbackAnsweringAReadAheadLeavesTheHomeCopyAuthoritative).
  constexpr uint64_t kFrames = 64;
  RegionConfig cfg = config(kFrames);
  // Each node caches at most 12 of 64 frames (ivy-dynamic's home too: it
  // keeps the frames it owns in its home copy, not in its cache).
  cfg.budget_frames = 12;
  auto c = Cluster::make(net(), 3, cfg, ports());
  ASSERT_TRUE(c);
  for (int n = 0; n < 3; ++n) {
    Region& r = *c->regions[n];
    // Node n writes every third frame (homed on the next node: interleave),
    // then everybody reads everything.
    for (uint64_t f = static_cast<uint64_t>((n + 1) % 3); f < kFrames; f += 3) {
      store(r, f, 0, static_cast<uint32_t>(f + 1));
      store(r, f, 1023, static_cast<uint32_t>(f * 7));
    }
  }
  for (int n = 0; n < 3; ++n) {
    Region& r = *c->regions[n];
    for (uint64_t f = 0; f < kFrames; ++f) {
      ASSERT_EQ(load(r, f, 0), f + 1) << "node " << n << " frame " << f;
      ASSERT_EQ(load(r, f, 1023), f * 7) << "node " << n << " frame " << f;
    }
  }
  uint64_t evictions = 0;
  for (auto& r : c->regions) {
    RegionStats s = r->stats();
    evictions += s.engine.evictions;
    EXPECT_LE(s.engine.resident_max, cfg.budget_frames);
    EXPECT_EQ(s.rejected(), 0u);
    EXPECT_EQ(s.driver.page_errors, 0u);  // the livelock's symptom: bytes the protocol lost
  }
  EXPECT_GT(evictions, 0u);
}

TEST_P(RegionTest, FalseSharingLosesNoUpdate) {
  auto c = Cluster::make(net(), 3, config(4), ports());
  ASSERT_TRUE(c);
  const int kWrites = rounds(300);
  std::atomic<int> ready{0};
  std::vector<std::thread> writers;
  for (int n = 0; n < 3; ++n) {
    writers.emplace_back([&, n] {
      Region& r = *c->regions[n];
      start_together(ready);
      // Node n owns word n*16 of frame 1 (different bytes, one page).
      for (int i = 1; i <= kWrites; ++i) {
        uint32_t before = load(r, 1, n * 16);
        store(r, 1, n * 16, before + 1);
      }
    });
  }
  for (auto& t : writers) t.join();
  uint64_t invalidations = 0;
  for (auto& r : c->regions) invalidations += r->stats().engine.invalidations;
  EXPECT_GT(invalidations, 0u);  // the page did move between the writers
  for (int reader = 0; reader < 3; ++reader) {
    for (int n = 0; n < 3; ++n) {
      EXPECT_EQ(load(*c->regions[reader], 1, n * 16), static_cast<uint32_t>(kWrites))
          << "node " << reader << " reads node " << n << "'s word";
    }
  }
}

TEST_P(RegionTest, CounterUnderDsmLockIsExact) {
  auto c = Cluster::make(net(), 3, config(8), ports());
  ASSERT_TRUE(c);
  const int kIncrements = rounds(100);
  std::atomic<int> ready{0};
  std::vector<std::thread> workers;
  for (int n = 0; n < 3; ++n) {
    workers.emplace_back([&, n] {
      Region& r = *c->regions[n];
      start_together(ready);
      for (int i = 0; i < kIncrements; ++i) {
        lock(r, 2);
        // The counter lives on another frame than the lock word.
        uint32_t v = load(r, 6, 3);
        store(r, 6, 3, v + 1);
        unlock(r, 2);
      }
    });
  }
  for (auto& t : workers) t.join();
  for (auto& r : c->regions) EXPECT_EQ(load(*r, 6, 3), static_cast<uint32_t>(3 * kIncrements));
  if (net() == Net::kFaulty) {
    EXPECT_GT(c->network->dropped(), 0u);  // the faults did happen
  }
  EXPECT_EQ(load(*c->regions[1], 2, 0), 0u);
}

// A sequential read of frames homed elsewhere goes through read-ahead, whose
// windows travel as runs (several requests in one frame, grants carrying
// several pages). Every byte must arrive intact, and a later write at the
// home must still invalidate the copies the runs installed.
TEST_P(RegionTest, SequentialScanThroughRunsIsIntact) {
  constexpr uint64_t kFrames = 384;
  RegionConfig cfg = config(kFrames);
  cfg.placement = "range";
  cfg.weights = {0, 1};  // node 1 homes everything
  cfg.read_ahead_max = 64;
  auto c = Cluster::make(net(), 2, cfg, ports());
  ASSERT_TRUE(c);
  Region& home = *c->regions[1];
  Region& reader = *c->regions[0];
  for (uint64_t f = 0; f < kFrames; ++f) {
    store(home, f, 0, static_cast<uint32_t>(f * 3 + 1));
    store(home, f, 1023, static_cast<uint32_t>(f ^ 0x5a5a));
  }
  for (uint64_t f = 0; f < kFrames; ++f) {
    ASSERT_EQ(load(reader, f, 0), f * 3 + 1) << "frame " << f;
    ASSERT_EQ(load(reader, f, 1023), f ^ 0x5a5a) << "frame " << f;
  }
  RegionStats rs = reader.stats();
  EXPECT_GT(rs.engine.read_ahead_issued, 0u);
  if (net() != Net::kFaulty) {
    // Faults may drop a run; its pieces are then asked for again one by one.
    EXPECT_GT(rs.driver.runs_sent, 0u);
    EXPECT_GT(home.stats().driver.runs_sent, 0u);
  }
  EXPECT_EQ(rs.rejected(), 0u);
  EXPECT_EQ(home.stats().rejected(), 0u);
  EXPECT_EQ(rs.driver.page_errors, 0u);
  // Copies installed from runs are ordinary Shared copies: a write at the
  // home invalidates them.
  store(home, 100, 0, 4242);
  EXPECT_EQ(load(reader, 100, 0), 4242u);
  store(reader, 200, 0, 77);
  EXPECT_EQ(load(home, 200, 0), 77u);
}

INSTANTIATE_TEST_SUITE_P(
    Nets, RegionTest,
    ::testing::Combine(::testing::Values(Net::kLoopback, Net::kFaulty, Net::kFabric),
                       ::testing::Values(std::string("msi-home"), std::string("ivy-dynamic"))),
    [](const auto& info) {
      std::string p = std::get<1>(info.param) == "msi-home" ? "MsiHome" : "IvyDynamic";
      return testing::to_string(std::get<0>(info.param)) + p;
    });

TEST(RegionMap, SecondMappingIsCoherentToo) {
  RegionConfig cfg;
  cfg.frames = 8;
  auto c = Cluster::make(Net::kLoopback, 3, cfg);
  ASSERT_TRUE(c);
  auto m = c->regions[0]->map(2, 4);  // frames 2..5, through their own userfaultfd
  ASSERT_TRUE(m.ok()) << m.error().message();
  auto* w = reinterpret_cast<uint32_t*>((*m)->data());
  std::atomic_ref<uint32_t>(w[0]).store(11);             // frame 2
  std::atomic_ref<uint32_t>(w[3 * 1024 + 5]).store(12);  // frame 5
  EXPECT_EQ(load(*c->regions[1], 2, 0), 11u);
  EXPECT_EQ(load(*c->regions[2], 5, 5), 12u);
  store(*c->regions[2], 2, 0, 21);  // invalidates node 0's copy, in both mappings
  EXPECT_EQ(std::atomic_ref<uint32_t>(w[0]).load(), 21u);
  EXPECT_EQ(load(*c->regions[0], 2, 0), 21u);
  EXPECT_FALSE(c->regions[0]->map(6, 4).ok());
}

TEST(RegionConfigFrom, TakesProtocolPlacementAndWeights) {
  auto c = node::parse_config(R"([cluster]
name = "lab"
secret = "s"
protocol = "ivy-dynamic"
placement = "range"
[[node]]
name = "n0"
address = "127.0.0.1:7700"
memory = "2GiB"
[[node]]
name = "n1"
address = "127.0.0.1:7710"
memory = "1GiB"
)",
                              "t.toml");
  ASSERT_TRUE(c.ok()) << c.error().message();
  RegionConfig r = region_config_from(*c, 1, 100);
  EXPECT_EQ(r.self, 1);
  EXPECT_EQ(r.node_count, 2);
  EXPECT_EQ(r.frames, 100u);
  EXPECT_EQ(r.protocol, "ivy-dynamic");
  EXPECT_EQ(r.placement, "range");
  EXPECT_EQ(r.weights, (std::vector<uint64_t>{2ull << 30, 1ull << 30}));
}

TEST(RegionCreate, RefusesBadConfigs) {
  rpc::LoopbackNetwork net({"n0", "n1"});
  auto t = net.attach(0, "s");
  ASSERT_TRUE(t.ok());
  RegionConfig c;
  c.node_count = 2;
  c.frames = 0;
  EXPECT_FALSE(Region::Create(c, **t).ok());
  c.frames = 4;
  c.protocol = "no-such";
  EXPECT_FALSE(Region::Create(c, **t).ok());
  c.protocol = "msi-home";
  c.node_count = 3;  // the transport has 2
  EXPECT_FALSE(Region::Create(c, **t).ok());
  c.node_count = 2;
  c.weights = {1, 2, 3};
  EXPECT_FALSE(Region::Create(c, **t).ok());
  c.weights = {};
  EXPECT_TRUE(Region::Create(c, **t).ok());
}

TEST(RegionStatsText, NamesEveryPart) {
  rpc::LoopbackNetwork net({"n0"});
  auto t = net.attach(0, "s");
  ASSERT_TRUE(t.ok());
  RegionConfig c;
  c.frames = 4;
  auto r = Region::Create(c, **t);
  ASSERT_TRUE(r.ok()) << r.error().message();
  store(**r, 1, 0, 5);
  EXPECT_EQ(load(**r, 1, 0), 5u);
  RegionStats s = (*r)->stats();
  EXPECT_EQ(s.engine.write_misses, 1u);
  EXPECT_NE(s.to_text().find("protocol msi-home"), std::string::npos);
  std::string json = s.to_json();
  EXPECT_NE(json.find("\"write_miss\":1"), std::string::npos) << json;
  EXPECT_NE(json.find("\"latency\""), std::string::npos);
  EXPECT_NE(json.find("\"ReadReq\""), std::string::npos) << json;
}

}  // namespace
}  // namespace dsm
