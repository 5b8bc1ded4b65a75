// The live coherence benchmark, small: every pattern runs on both protocols
// over libfabric on 127.0.0.1 with its reads checked, and its figures add up
// to what the pattern must cost.

#include "dsm/region/coherence_bench.h"

#include <unistd.h>

#include <gtest/gtest.h>

namespace dsm {
namespace {

TEST(CoherenceBench, RunsEveryPatternOnBothProtocols) {
  CoherenceBenchOptions o;
  o.rounds = 20;
  o.port = static_cast<uint16_t>(36000 + (getpid() % 500) * 8);
  auto r = run_coherence_bench(o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->protocols.size(), 2u);
  for (const auto& p : r->protocols) {
    ASSERT_EQ(p.patterns.size(), 3u) << p.protocol;
    for (const auto& f : p.patterns) {
      SCOPED_TRACE(p.protocol + " " + f.pattern);
      EXPECT_GT(f.operations, 0u);
      EXPECT_GT(f.messages, 0u);
      EXPECT_GT(f.bytes, f.messages);  // some carried pages
      EXPECT_GT(f.us_per_op, 0.0);
      EXPECT_GT(f.sim_messages, 0u);
    }
    // ping-pong: every write but the first takes the frame from the other
    // writer, so it must invalidate (or move) the other copy each time.
    const auto& pp = p.patterns[0];
    EXPECT_EQ(pp.pattern, "ping-pong");
    EXPECT_GE(pp.write_faults + pp.upgrades, pp.operations - 1) << p.protocol;
    // read-mostly: the readers fault again only after a write.
    const auto& rm = p.patterns[2];
    EXPECT_LT(rm.read_faults, rm.operations / 2) << p.protocol;
  }
  std::string table = format_coherence_table(*r);
  EXPECT_NE(table.find("ivy-dynamic"), std::string::npos) << table;
  EXPECT_NE(table.find("false-sharing"), std::string::npos) << table;
  std::string json = format_coherence_json(*r);
  EXPECT_NE(json.find("\"protocol\":\"msi-home\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"us_per_op\":"), std::string::npos) << json;
}

TEST(CoherenceBench, RefusesAnUnknownPattern) {
  CoherenceBenchOptions o;
  o.patterns = {"no-such"};
  o.protocols = {"msi-home"};
  o.port = static_cast<uint16_t>(36000 + (getpid() % 500) * 8 + 6);
  EXPECT_FALSE(run_coherence_bench(o).ok());
}

}  // namespace
}  // namespace dsm
