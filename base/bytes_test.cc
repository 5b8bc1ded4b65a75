#include "base/bytes.h"

#include <gtest/gtest.h>

namespace base {
namespace {

TEST(ParseSize, Units) {
  EXPECT_EQ(*parse_size("4096"), 4096u);
  EXPECT_EQ(*parse_size("1KiB"), 1024u);
  EXPECT_EQ(*parse_size("512MiB"), 512ull << 20);
  EXPECT_EQ(*parse_size("8GiB"), 8ull << 30);
  EXPECT_EQ(*parse_size("2G"), 2ull << 30);
  EXPECT_EQ(*parse_size("1TiB"), 1ull << 40);
}

TEST(ParseSize, Rejects) {
  for (const char* bad : {"", "0", "0GiB", "8GB?", "8GB", "GiB", "-1", "1.5GiB", "99999999999999999999",
                          "20000000TiB", " 8GiB"}) {
    auto r = parse_size(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_FALSE(r.error().message().empty());
    }
  }
}

TEST(FormatSize, Readable) {
  EXPECT_EQ(format_size(8ull << 30), "8 GiB");
  EXPECT_EQ(format_size(1536ull << 20), "1.5 GiB");
  EXPECT_EQ(format_size(17), "17 B");
}

}  // namespace
}  // namespace base
