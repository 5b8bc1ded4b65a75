// InstallSink on a real userfaultfd: runs land where the cursor is, wrap
// around punching what was there, and bad runs are refused.

#include "dsm/fault/install_sink.h"

#include <gtest/gtest.h>

#include <vector>

#include "base/bytes.h"

namespace dsm {
namespace {

constexpr uint64_t kPage = base::kPageSize;

std::vector<std::byte> run_of(uint64_t pages, uint8_t value) {
  return std::vector<std::byte>(pages * kPage, std::byte{value});
}

TEST(InstallSink, InstallsIntoHolesThenPunchesWhenItWraps) {
  auto sink = InstallSink::Create(8);
  ASSERT_TRUE(sink.ok()) << sink.error().message();
  InstallSink& s = **sink;
  auto a = run_of(4, 1), b = run_of(4, 2), c = run_of(3, 3);
  ASSERT_TRUE(s.install(a).ok());
  ASSERT_TRUE(s.install(b).ok());
  EXPECT_EQ(s.installed_pages(), 8u);
  EXPECT_EQ(s.punched_pages(), 0u);
  // The ring is full: the next run goes to its start, over a's pages.
  ASSERT_TRUE(s.install(c).ok()) << "installed onto present pages without a punch";
  EXPECT_EQ(s.punched_pages(), 3u);
  ASSERT_TRUE(s.install(c).ok());
  EXPECT_EQ(s.punched_pages(), 6u);
  EXPECT_EQ(s.installed_pages(), 14u);
  // Pages 0-5 hold c's bytes, 6-7 still b's.
  for (uint64_t p = 0; p < 8; ++p) {
    EXPECT_EQ(s.data()[p * kPage + 17], std::byte{p < 6 ? uint8_t{3} : uint8_t{2}}) << p;
  }
}

TEST(InstallSink, AFilledSinkPunchesBeforeEveryInstall) {
  auto sink = InstallSink::Create(130);
  ASSERT_TRUE(sink.ok()) << sink.error().message();
  ASSERT_TRUE((*sink)->fill().ok());
  EXPECT_EQ((*sink)->installed_pages(), 130u);
  auto r = run_of(64, 7);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*sink)->install(r).ok());
  EXPECT_EQ((*sink)->punched_pages(), 192u);
}

TEST(InstallSink, RefusesRunsThatAreNotWholePagesWithinTheRing) {
  auto sink = InstallSink::Create(2);
  ASSERT_TRUE(sink.ok()) << sink.error().message();
  std::vector<std::byte> partial(kPage + 1), too_long(3 * kPage), none;
  EXPECT_EQ((*sink)->install(partial).error().code(), EINVAL);
  EXPECT_EQ((*sink)->install(too_long).error().code(), EINVAL);
  EXPECT_EQ((*sink)->install(none).error().code(), EINVAL);
  EXPECT_EQ(InstallSink::Create(0).error().code(), EINVAL);
}

}  // namespace
}  // namespace dsm
