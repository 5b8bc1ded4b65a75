#include "dsm/protocol/patterns.h"

#include <gtest/gtest.h>

namespace dsm::protocol::sim {
namespace {

PatternResult run(const char* protocol, const char* pattern, uint64_t rounds = 20) {
  PatternOptions o;
  o.protocol = protocol;
  o.pattern = pattern;
  o.rounds = rounds;
  auto r = run_pattern(o);
  EXPECT_TRUE(r.ok()) << r.error().message();
  return r.ok() ? *r : PatternResult{};
}

TEST(Patterns, EveryPatternRunsOnBothProtocols) {
  for (const char* p : {"msi-home", "ivy-dynamic"}) {
    for (std::string_view pat : kPatterns) {
      PatternResult r = run(p, std::string(pat).c_str());
      EXPECT_GT(r.operations, 0u) << p << " " << pat;
      EXPECT_GT(r.messages, 0u) << p << " " << pat;
    }
  }
}

TEST(Patterns, PingPongCostsAFixedNumberOfMessagesPerTransfer) {
  // After warm-up every write moves the frame: msi-home asks the home, which
  // recalls, invalidates and grants (6 messages); ivy-dynamic asks the owner
  // through the probable-owner chain, is granted and invalidates it (4, plus
  // a forward when the chain is one hop too long).
  PatternResult msi10 = run("msi-home", "ping-pong", 10);
  PatternResult msi20 = run("msi-home", "ping-pong", 20);
  EXPECT_EQ(msi20.messages - msi10.messages, 20u * 6);
  PatternResult ivy10 = run("ivy-dynamic", "ping-pong", 10);
  PatternResult ivy20 = run("ivy-dynamic", "ping-pong", 20);
  EXPECT_LE(ivy20.messages - ivy10.messages, 20u * 5);
  EXPECT_LT(ivy20.messages, msi20.messages);
}

TEST(Patterns, ReadMostlyReadsHitAfterTheFirstMiss) {
  PatternResult r = run("msi-home", "read-mostly", 40);
  // Each write invalidates the two readers' copies; each then misses once.
  EXPECT_LE(r.faults, 4u * 4 + 4u * 2 + 4);
  EXPECT_GE(r.invalidations, 4u);
}

TEST(Patterns, UnknownPatternIsAnError) {
  PatternOptions o;
  o.pattern = "zigzag";
  auto r = run_pattern(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("zigzag"), std::string::npos);
}

}  // namespace
}  // namespace dsm::protocol::sim
