// The randomized model check, quick variant: a fixed set of seeds over both
// protocols, 3 to 6 nodes, a lossy and reordering network; interleave
// placement and first-touch (homes decided by claims during the run). The soak variant
// (model_check_soak_test.cc, `ctest -L soak`) runs longer.

#include <gtest/gtest.h>

#include "dsm/protocol/model_check.h"

namespace dsm::protocol::sim {
namespace {

struct Case {
  const char* protocol;
  uint16_t nodes;
  uint64_t frames;
  const char* placement = "interleave";
};

class ModelCheck : public ::testing::TestWithParam<Case> {};

TEST_P(ModelCheck, RandomRunsKeepCoherence) {
  const Case& c = GetParam();
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    SimOptions opt;
    opt.protocol = c.protocol;
    opt.placement = c.placement;
    opt.nodes = c.nodes;
    opt.frames = c.frames;
    opt.seed = seed;
    opt.steps = 6000;
    auto sim = Simulator::Create(opt);
    ASSERT_TRUE(sim.ok()) << sim.error().message();
    base::Status st = (*sim)->run();
    ASSERT_TRUE(st.ok()) << st.error().message();
    const SimCounters& k = (*sim)->counters();
    EXPECT_GT(k.reads, 0u);
    EXPECT_GT(k.writes, 0u);
    EXPECT_EQ((*sim)->total_stats().rejected, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Protocols, ModelCheck,
                         ::testing::Values(Case{"msi-home", 3, 2}, Case{"msi-home", 4, 3},
                                           Case{"msi-home", 6, 5}, Case{"ivy-dynamic", 3, 2},
                                           Case{"ivy-dynamic", 4, 3}, Case{"ivy-dynamic", 6, 5},
                                           Case{"msi-home", 3, 2, "first-touch"},
                                           Case{"msi-home", 4, 3, "first-touch"},
                                           Case{"msi-home", 6, 5, "first-touch"},
                                           Case{"ivy-dynamic", 3, 2, "first-touch"},
                                           Case{"ivy-dynamic", 4, 3, "first-touch"},
                                           Case{"ivy-dynamic", 6, 5, "first-touch"}),
                         [](const auto& info) {
                           std::string name = info.param.protocol;
                           name += "_" + std::to_string(info.param.nodes) + "nodes";
                           if (std::string(info.param.placement) != "interleave") {
                             name += std::string("_") + info.param.placement;
                           }
                           for (char& ch : name) {
                             if (ch == '-') ch = '_';
                           }
                           return name;
                         });

// Node deaths injected (dsm/PROTOCOLS.md "Node failure"): up to two nodes
// die mid-run (one of three). The invariants still hold for the survivors: at most
// one writer, every read returns the last write (so a lost frame is never
// read: its last write died with a node), a dead node's late messages are
// rejected, and no fault waits forever (the drain ends with nothing
// waiting). Lost frames are allowed.
TEST_P(ModelCheck, NodeDeathsKeepCoherenceAndEndEveryWait) {
  const Case& c = GetParam();
  uint64_t deaths = 0, failed = 0, from_dead = 0;
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    SimOptions opt;
    opt.protocol = c.protocol;
    opt.placement = c.placement;
    opt.nodes = c.nodes;
    opt.frames = c.frames;
    opt.seed = seed;
    opt.steps = 4000;
    opt.p_kill = 0.002;
    opt.max_deaths = c.nodes >= 4 ? 2 : 1;  // at least two survive
    auto sim = Simulator::Create(opt);
    ASSERT_TRUE(sim.ok()) << sim.error().message();
    base::Status st = (*sim)->run();
    ASSERT_TRUE(st.ok()) << st.error().message();
    const SimCounters& k = (*sim)->counters();
    EXPECT_GT(k.reads, 0u);
    deaths += k.deaths;
    failed += k.failed;
    from_dead += k.from_dead;
  }
  EXPECT_GT(deaths, 0u);
  EXPECT_GT(failed, 0u) << "no fault ever met a lost frame: the deaths tested nothing";
  EXPECT_GT(from_dead, 0u);
}

// Few nodes and frames, many evictions, timeouts and duplicates: the
// settings under which late duplicates of old epochs meet busy frames.
TEST(ModelCheckAdversarial, HotFramesAndLateDuplicates) {
  for (const char* p : {"msi-home", "ivy-dynamic"}) {
    for (int cfg = 0; cfg < 8; ++cfg) {
      const int k = cfg % 4;  // the same 4 settings, interleave then first-touch
      for (uint64_t seed = 1; seed <= 16; ++seed) {
        SimOptions opt;
        opt.protocol = p;
        opt.placement = cfg < 4 ? "interleave" : "first-touch";
        opt.seed = 500 + seed * 4 + k;
        opt.nodes = k == 0 ? 2 : k == 1 ? 3 : k == 2 ? 5 : 8;
        opt.frames = k < 2 ? 1 : 2;
        opt.steps = 8000;
        opt.p_access = 0.3;
        opt.p_write = k == 3 ? 0.1 : 0.6;
        opt.p_evict = 0.15;
        opt.p_timeout = 0.2;
        opt.p_drop = 0.1 * k;
        opt.p_duplicate = 0.3;
        opt.p_in_order = 0.1;
        opt.p_hold = 0.02;  // and some copies come back thousands of steps later
        auto sim = Simulator::Create(opt);
        ASSERT_TRUE(sim.ok());
        base::Status st = (*sim)->run();
        ASSERT_TRUE(st.ok()) << st.error().message();
      }
    }
  }
}

// Epochs start just below 2^32 and wrap during the run.
TEST(ModelCheckAdversarial, VersionsWrapAround) {
  for (const char* p : {"msi-home", "ivy-dynamic"}) {
    for (uint64_t seed = 1; seed <= 12; ++seed) {  // 7..12: first-touch
      SimOptions opt;
      opt.protocol = p;
      opt.seed = (seed - 1) % 6 + 1;
      opt.nodes = 3;
      opt.frames = 1;
      opt.steps = 6000;
      opt.p_write = 0.7;
      opt.first_version = 0xffffffffu - 20;
      opt.placement = seed <= 6 ? "interleave" : "first-touch";
      auto sim = Simulator::Create(opt);
      ASSERT_TRUE(sim.ok());
      base::Status st = (*sim)->run();
      ASSERT_TRUE(st.ok()) << st.error().message();
      Version v = (*sim)->protocol(0).view(0).version;
      EXPECT_LT(v, 0x80000000u) << p << ": the run did not cross the wrap";
    }
  }
}

// The network faults actually happen in these runs (the check is not vacuous).
TEST(ModelCheckCoverage, NetworkMisbehaves) {
  for (const char* p : {"msi-home", "ivy-dynamic"}) {
    for (const char* placement : {"interleave", "first-touch"}) {
      SimOptions opt;
      opt.protocol = p;
      opt.placement = placement;
      opt.seed = 7;
      opt.steps = 6000;
      auto sim = Simulator::Create(opt);
      ASSERT_TRUE(sim.ok());
      ASSERT_TRUE((*sim)->run().ok());
      const SimCounters& k = (*sim)->counters();
      EXPECT_GT(k.dropped, 0u) << p;
      EXPECT_GT(k.duplicated, 0u) << p;
      EXPECT_GT(k.evictions, 0u) << p;
      EXPECT_GT(k.timeouts, 0u) << p;
      ProtocolStats s = (*sim)->total_stats();
      EXPECT_GT(s.retries, 0u) << p;
      EXPECT_GT(s.stale, 0u) << p;
      EXPECT_GT(s.invalidations, 0u) << p;
      if (std::string(placement) == "first-touch") {
        // Claims were lost and retried, and every frame got a home.
        EXPECT_GT(s.received[static_cast<uint8_t>(MsgType::kClaim)], 0u) << p;
        EXPECT_GT(s.received[static_cast<uint8_t>(MsgType::kClaimReply)], 0u) << p;
        EXPECT_EQ(s.claims_decided, opt.frames) << p;
        EXPECT_GT(s.claims, opt.frames) << p;  // later claims of the losers too
        EXPECT_EQ(s.homes_won, opt.frames) << p;
      }
    }
  }
}

// With first-touch, homes spread to whoever touched first: over many frames
// each touched by one node first, in a reliable in-order network, every
// frame's home is that node, and every node learns it.
TEST(ModelCheckCoverage, FirstToucherBecomesHome) {
  for (const char* p : {"msi-home", "ivy-dynamic"}) {
    SimOptions opt;
    opt.protocol = p;
    opt.placement = "first-touch";
    opt.nodes = 4;
    opt.frames = 12;
    opt.p_drop = opt.p_duplicate = 0;
    auto sim = Simulator::Create(opt);
    ASSERT_TRUE(sim.ok());
    Simulator& s = **sim;
    for (FrameId f = 0; f < opt.frames; ++f) {
      const NodeId first = static_cast<NodeId>((f * 7 + 1) % opt.nodes);
      ASSERT_TRUE(s.access(first, f, f % 2 ? Access::kWrite : Access::kRead).ok());
      ASSERT_TRUE(s.drain().ok());
      for (NodeId n = 0; n < opt.nodes; ++n) ASSERT_TRUE(s.access(n, f, Access::kWrite).ok());
      ASSERT_TRUE(s.drain().ok());
    }
    for (FrameId f = 0; f < opt.frames; ++f) {
      const NodeId first = static_cast<NodeId>((f * 7 + 1) % opt.nodes);
      for (NodeId n = 0; n < opt.nodes; ++n) {
        EXPECT_EQ(s.protocol(n).home_of(f), first) << p << " f" << f << " n" << n;
      }
    }
    EXPECT_EQ(s.total_stats().homes_won, opt.frames) << p;
    EXPECT_EQ(s.total_stats().rejected, 0u) << p;
  }
}

}  // namespace
}  // namespace dsm::protocol::sim
