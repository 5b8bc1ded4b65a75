#include "bench/rtt.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace bench {
namespace {

TEST(RttBench, SizesAreChecked) {
  EXPECT_TRUE(check_sizes({64, 4096, 65536}).ok());
  EXPECT_FALSE(check_sizes({}).ok());
  EXPECT_FALSE(check_sizes({0}).ok());
  EXPECT_FALSE(check_sizes({5000}).ok());
  EXPECT_FALSE(check_sizes({2u << 20}).ok());
}

// Runs both paths briefly; asserts that they ran and reported, not how fast.
TEST(RttBench, ShortRunReportsBothPaths) {
  RttOptions o;
  uint16_t port = static_cast<uint16_t>(40000 + (getpid() % 1000) * 8);
  o.a = {"127.0.0.1", port};
  o.b = {"127.0.0.1", static_cast<uint16_t>(port + 1)};
  o.bare_a = {"127.0.0.1", static_cast<uint16_t>(port + 2)};
  o.bare_b = {"127.0.0.1", static_cast<uint16_t>(port + 3)};
  o.sizes = {64, 8192};
  o.iterations = 20;
  o.warmup = 5;
  auto r = run_rtt(o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->rows.size(), 2u);
  for (const auto& row : r->rows) {
    EXPECT_GT(row.ours.p50_us, 0);
    EXPECT_GT(row.bare.p50_us, 0);
    EXPECT_GE(row.ours.p99_us, row.ours.p50_us);
    EXPECT_GT(row.p50_ratio, 0);
  }
  std::string json = format_json(*r);
  EXPECT_NE(json.find("\"p50_ratio\""), std::string::npos);
  EXPECT_NE(format_table(*r).find("8192"), std::string::npos);
}

}  // namespace
}  // namespace bench
