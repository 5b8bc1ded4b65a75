// ProtocolStats addition (a region's totals across protocol instances).

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "dsm/protocol/protocol.h"

namespace dsm::protocol {
namespace {

static_assert(std::is_trivially_copyable_v<ProtocolStats>);
constexpr size_t kWords = sizeof(ProtocolStats) / sizeof(uint64_t);

ProtocolStats filled(uint64_t scale) {
  uint64_t words[kWords];
  for (size_t i = 0; i < kWords; ++i) words[i] = scale * (i + 1);
  ProtocolStats s;
  std::memcpy(&s, words, sizeof s);
  return s;
}

TEST(ProtocolStats, AddingCountsEveryCounter) {
  ProtocolStats sum = filled(1);
  sum += filled(2);
  uint64_t words[kWords];
  std::memcpy(words, &sum, sizeof sum);
  for (size_t i = 0; i < kWords; ++i) EXPECT_EQ(words[i], 3 * (i + 1)) << "word " << i;
}

}  // namespace
}  // namespace dsm::protocol
