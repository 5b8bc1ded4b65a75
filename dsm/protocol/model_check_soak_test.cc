// The randomized model check, soak variant: many more seeds and steps, and
// harsher networks. Labelled "soak" in ctest (`ctest -L soak`); the quick
// suite leaves it out. PANGAEA_SOAK_SEEDS overrides the seed count.

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "dsm/protocol/model_check.h"

namespace dsm::protocol::sim {
namespace {

uint64_t seed_count() {
  const char* env = std::getenv("PANGAEA_SOAK_SEEDS");
  return env ? std::strtoull(env, nullptr, 10) : 150;
}

struct Net {
  const char* name;
  double drop, dup, in_order;
};

void soak(const char* protocol, const char* placement, const Net& net) {
  for (uint64_t seed = 1000; seed < 1000 + seed_count(); ++seed) {
    SimOptions opt;
    opt.protocol = protocol;
    opt.placement = placement;
    opt.nodes = static_cast<uint16_t>(2 + seed % 7);  // 2..8
    opt.frames = 1 + seed % 5;
    opt.seed = seed;
    opt.steps = 15000;
    opt.p_drop = net.drop;
    opt.p_duplicate = net.dup;
    opt.p_in_order = net.in_order;
    opt.p_evict = 0.02 + 0.04 * static_cast<double>(seed % 4);
    opt.p_timeout = 0.05 + 0.05 * static_cast<double>(seed % 3);
    opt.p_write = 0.2 + 0.2 * static_cast<double>(seed % 3);
    auto sim = Simulator::Create(opt);
    ASSERT_TRUE(sim.ok()) << sim.error().message();
    base::Status st = (*sim)->run();
    ASSERT_TRUE(st.ok()) << net.name << ": " << st.error().message();
  }
}

constexpr Net kNets[] = {
    {"lossy", 0.05, 0.05, 0.3},
    {"harsh", 0.25, 0.20, 0.0},
    {"fifo-ish", 0.01, 0.01, 0.9},
    {"echoing", 0.10, 0.35, 0.1},
};

TEST(ModelCheckSoak, MsiHomeInterleave) {
  for (const Net& n : kNets) soak("msi-home", "interleave", n);
}
TEST(ModelCheckSoak, MsiHomeRange) {
  for (const Net& n : kNets) soak("msi-home", "range", n);
}
TEST(ModelCheckSoak, IvyDynamicInterleave) {
  for (const Net& n : kNets) soak("ivy-dynamic", "interleave", n);
}
TEST(ModelCheckSoak, IvyDynamicRange) {
  for (const Net& n : kNets) soak("ivy-dynamic", "range", n);
}

}  // namespace
}  // namespace dsm::protocol::sim
