// The randomized model check, quick variant: a fixed set of seeds over both
// protocols, 3 to 6 nodes, a lossy and reordering network. The soak variant
// (model_check_soak_test.cc, `ctest -L soak`) runs longer.

#include <gtest/gtest.h>

#include "dsm/protocol/model_check.h"

namespace dsm::protocol::sim {
namespace {

struct Case {
  const char* protocol;
  uint16_t nodes;
  uint64_t frames;
};

class ModelCheck : public ::testing::TestWithParam<Case> {};

TEST_P(ModelCheck, RandomRunsKeepCoherence) {
  const Case& c = GetParam();
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    SimOptions opt;
    opt.protocol = c.protocol;
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
                                           Case{"ivy-dynamic", 4, 3}, Case{"ivy-dynamic", 6, 5}),
                         [](const auto& info) {
                           std::string name = info.param.protocol;
                           for (char& ch : name) {
                             if (ch == '-') ch = '_';
                           }
                           return name + "_" + std::to_string(info.param.nodes) + "nodes";
                         });

// Few nodes and frames, many evictions, timeouts and duplicates: the
// settings under which late duplicates of old epochs meet busy frames.
TEST(ModelCheckAdversarial, HotFramesAndLateDuplicates) {
  for (const char* p : {"msi-home", "ivy-dynamic"}) {
    for (int cfg = 0; cfg < 4; ++cfg) {
      for (uint64_t seed = 1; seed <= 16; ++seed) {
        SimOptions opt;
        opt.protocol = p;
        opt.seed = 500 + seed * 4 + cfg;
        opt.nodes = cfg == 0 ? 2 : cfg == 1 ? 3 : cfg == 2 ? 5 : 8;
        opt.frames = cfg < 2 ? 1 : 2;
        opt.steps = 8000;
        opt.p_access = 0.3;
        opt.p_write = cfg == 3 ? 0.1 : 0.6;
        opt.p_evict = 0.15;
        opt.p_timeout = 0.2;
        opt.p_drop = 0.1 * cfg;
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
    for (uint64_t seed = 1; seed <= 6; ++seed) {
      SimOptions opt;
      opt.protocol = p;
      opt.seed = seed;
      opt.nodes = 3;
      opt.frames = 1;
      opt.steps = 6000;
      opt.p_write = 0.7;
      opt.first_version = 0xffffffffu - 20;
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
    SimOptions opt;
    opt.protocol = p;
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
  }
}

}  // namespace
}  // namespace dsm::protocol::sim
