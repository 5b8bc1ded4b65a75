// InstallSink on a real userfaultfd: runs land where the cursor is, wrap
// around punching what was there, and bad runs are refused. Pages are read
// only where mincore(2) says the memfd holds one: nobody serves a fault on
// a hole here, so reading one would block for ever.

#include "dsm/fault/install_sink.h"

#include <sys/mman.h>

#include <gtest/gtest.h>

#include <vector>

#include "base/bytes.h"

namespace dsm {
namespace {

constexpr uint64_t kPage = base::kPageSize;

std::vector<std::byte> run_of(uint64_t pages, uint8_t value) {
  return std::vector<std::byte>(pages * kPage, std::byte{value});
}

// Each page's first byte, or -1 for a hole.
std::vector<int> contents(const InstallSink& s, uint64_t pages) {
  std::vector<unsigned char> resident(pages);
  auto* base = const_cast<std::byte*>(s.data());
  if (::mincore(base, pages * kPage, resident.data()) != 0) return {};
  std::vector<int> out(pages, -1);
  for (uint64_t p = 0; p < pages; ++p) {
    if (resident[p] & 1) out[p] = static_cast<int>(s.data()[p * kPage]);
  }
  return out;
}

TEST(InstallSink, InstallsIntoHolesThenPunchesWhenItWraps) {
  auto sink = InstallSink::Create(8);
  ASSERT_TRUE(sink.ok()) << sink.error().message();
  InstallSink& s = **sink;
  EXPECT_EQ(contents(s, 8), (std::vector<int>{-1, -1, -1, -1, -1, -1, -1, -1}));
  ASSERT_TRUE(s.install(run_of(4, 1)).ok());
  EXPECT_EQ(contents(s, 8), (std::vector<int>{1, 1, 1, 1, -1, -1, -1, -1}));
  ASSERT_TRUE(s.install(run_of(4, 2)).ok());
  EXPECT_EQ(s.punched_pages(), 0u);
  // The ring is full: the next run goes to its start, over the first run.
  ASSERT_TRUE(s.install(run_of(3, 3)).ok()) << "installed onto present pages without a punch";
  EXPECT_EQ(s.punched_pages(), 3u);
  ASSERT_TRUE(s.install(run_of(3, 4)).ok());
  EXPECT_EQ(s.punched_pages(), 6u);
  EXPECT_EQ(s.installed_pages(), 14u);
  EXPECT_EQ(contents(s, 8), (std::vector<int>{3, 3, 3, 4, 4, 4, 2, 2}));
}

TEST(InstallSink, ARunOverTheEndOfWhatWasHeldPunchesOnlyThosePages) {
  auto sink = InstallSink::Create(8);
  ASSERT_TRUE(sink.ok()) << sink.error().message();
  InstallSink& s = **sink;
  ASSERT_TRUE(s.install(run_of(5, 1)).ok());  // pages 0-4
  ASSERT_TRUE(s.install(run_of(4, 2)).ok());  // does not fit after 4: wraps, punches 0-3
  EXPECT_EQ(s.punched_pages(), 4u);
  // Pages 4-5: page 4 holds the first run, page 5 was never installed.
  ASSERT_TRUE(s.install(run_of(2, 3)).ok());
  EXPECT_EQ(s.punched_pages(), 5u);
  EXPECT_EQ(contents(s, 8), (std::vector<int>{2, 2, 2, 2, 3, 3, -1, -1}));
}

TEST(InstallSink, FillKeepsTheCursorAndEveryInstallAfterItPunches) {
  auto sink = InstallSink::Create(130);
  ASSERT_TRUE(sink.ok()) << sink.error().message();
  InstallSink& s = **sink;
  ASSERT_TRUE(s.install(run_of(2, 9)).ok());
  ASSERT_TRUE(s.fill().ok());
  EXPECT_EQ(s.installed_pages(), 130u);
  EXPECT_EQ(s.punched_pages(), 0u);
  const std::vector<int> filled = contents(s, 130);
  ASSERT_EQ(filled.size(), 130u);
  EXPECT_EQ(filled[1], 9);
  EXPECT_EQ(filled[2], 0);
  EXPECT_EQ(filled[129], 0);
  // The cursor is still at page 2.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(s.install(run_of(64, 7)).ok());
  EXPECT_EQ(s.punched_pages(), 192u);
  const std::vector<int> after = contents(s, 130);
  ASSERT_EQ(after.size(), 130u);
  EXPECT_EQ(after[1], 7);  // the third run wrapped to the start
  EXPECT_EQ(after[2], 7);  // the first went in at the cursor
  EXPECT_EQ(after[129], 7);
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
