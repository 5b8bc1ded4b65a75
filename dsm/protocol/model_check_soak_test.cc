// The randomized model check, soak variant: many more seeds and steps, and
// harsher networks. Labelled "soak" in ctest (`ctest -L soak`); the quick
// suite leaves it out. PANGAEA_SOAK_SEEDS overrides the seed count.

#include <cstdlib>
#include <random>
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
TEST(ModelCheckSoak, MsiHomeFirstTouch) {
  for (const Net& n : kNets) soak("msi-home", "first-touch", n);
}
TEST(ModelCheckSoak, IvyDynamicFirstTouch) {
  for (const Net& n : kNets) soak("ivy-dynamic", "first-touch", n);
}

// Every knob drawn at random per seed: sizes, placement, access mix,
// eviction and timeout rates, network faults, epochs near the wrap.
TEST(ModelCheckSoak, RandomConfigurations) {
  for (uint64_t s = 0; s < 6 * seed_count(); ++s) {
    for (const char* p : {"msi-home", "ivy-dynamic"}) {
      std::mt19937_64 r(s);
      SimOptions o;
      o.protocol = p;
      o.seed = 700000 + s;
      o.nodes = static_cast<uint16_t>(2 + r() % 7);
      o.frames = 1 + r() % 4;
      const uint64_t pl = r() % 3;
      o.placement = pl == 0 ? "range" : pl == 1 ? "interleave" : "first-touch";
      o.steps = 5000;
      o.p_access = 0.1 + static_cast<double>(r() % 5) * 0.1;
      o.p_write = static_cast<double>(r() % 10) / 10.0;
      o.p_evict = static_cast<double>(r() % 6) * 0.06;
      o.p_timeout = static_cast<double>(r() % 6) * 0.05;
      o.p_drop = static_cast<double>(r() % 5) * 0.08;
      o.p_duplicate = static_cast<double>(r() % 5) * 0.1;
      o.p_in_order = static_cast<double>(r() % 5) * 0.25;
      o.max_in_flight = 50 + r() % 400;
      o.p_hold = static_cast<double>(r() % 3) * 0.02;
      o.hold_steps = 100 + r() % 4000;
      if (r() % 4 == 0) o.first_version = 0xffffffffu - static_cast<Version>(r() % 50);
      auto sim = Simulator::Create(o);
      ASSERT_TRUE(sim.ok()) << sim.error().message();
      base::Status st = (*sim)->run();
      ASSERT_TRUE(st.ok()) << st.error().message();
    }
  }
}

// Node deaths (dsm/PROTOCOLS.md "Node failure"), every placement: 4..8
// nodes, up to nodes-2 deaths, harsh networks, late copies.
TEST(ModelCheckSoak, NodeDeaths) {
  for (uint64_t s = 0; s < 2 * seed_count(); ++s) {
    for (const char* p : {"msi-home", "ivy-dynamic"}) {
      std::mt19937_64 r(s + 91);
      SimOptions o;
      o.protocol = p;
      o.seed = 900000 + s;
      o.nodes = static_cast<uint16_t>(4 + r() % 5);
      o.frames = 1 + r() % 5;
      o.placement = r() % 3 == 0 ? "first-touch" : r() % 2 ? "range" : "interleave";
      o.steps = 6000;
      o.p_write = static_cast<double>(1 + r() % 8) / 10.0;
      o.p_evict = static_cast<double>(r() % 5) * 0.05;
      o.p_drop = static_cast<double>(r() % 4) * 0.08;
      o.p_duplicate = static_cast<double>(r() % 4) * 0.1;
      o.p_in_order = static_cast<double>(r() % 5) * 0.25;
      o.p_hold = static_cast<double>(r() % 3) * 0.02;
      o.p_kill = 0.0005 + static_cast<double>(r() % 4) * 0.001;
      o.max_deaths = static_cast<uint16_t>(o.nodes - 2);
      auto sim = Simulator::Create(o);
      ASSERT_TRUE(sim.ok()) << sim.error().message();
      base::Status st = (*sim)->run();
      ASSERT_TRUE(st.ok()) << st.error().message();
    }
  }
}

}  // namespace
}  // namespace dsm::protocol::sim
