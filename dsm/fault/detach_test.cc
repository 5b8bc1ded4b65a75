// FaultEngine::detach (ranges, cut attachments) and detach_all (a uffd
// forgotten before its owner closes it), against real userfaultfd.

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <thread>

#include <gtest/gtest.h>

#include "base/bytes.h"
#include "base/unique_fd.h"
#include "dsm/fault/fault_engine.h"
#include "dsm/fault/pattern_provider.h"

namespace dsm {
namespace {

constexpr uint64_t kPage = base::kPageSize;

std::unique_ptr<FaultEngine> make_engine(PageProvider* provider, uint64_t frames,
                                         uint64_t budget = 0) {
  FaultEngineOptions o;
  o.frames = frames;
  o.budget_frames = budget;
  o.read_ahead_max = 0;
  auto engine = FaultEngine::Create(o, provider);
  EXPECT_TRUE(engine.ok()) << engine.error().message();
  return std::move(engine).value();
}

int new_uffd() {
  int fd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  EXPECT_GE(fd, 0);
  return fd;
}

// `n` pages of the engine's memfd from frame `first`, at `at` (or anywhere).
std::byte* map_frames(FaultEngine& e, uint64_t first, uint64_t n, void* at = nullptr) {
  void* p = mmap(at, n * kPage, PROT_READ | PROT_WRITE, MAP_SHARED | (at ? MAP_FIXED : 0),
                 e.memfd(), static_cast<off_t>(first * kPage));
  EXPECT_NE(p, MAP_FAILED);
  return static_cast<std::byte*>(p);
}

uint64_t addr_of(const std::byte* p, uint64_t page = 0) {
  return reinterpret_cast<uint64_t>(p) + page * kPage;
}

TEST(FaultEngineDetach, DetachCutsAttachmentsToWhatLiesOutside) {
  PatternProvider provider;
  auto engine = make_engine(&provider, 16);
  std::byte* m = map_frames(*engine, 0, 8);
  base::UniqueFd uffd(new_uffd());
  ASSERT_TRUE(engine->attach(uffd.get(), addr_of(m), 0, 8).ok());
  // Pages 2..4 go: [0,2) and [5,8) stay attached.
  engine->detach(uffd.get(), addr_of(m, 2), 3);
  EXPECT_EQ(engine->attachment_count(), 2u);
  EXPECT_FALSE(engine->resolve_fault(uffd.get(), addr_of(m, 3), Access::kRead).ok());
  ASSERT_TRUE(engine->resolve_fault(uffd.get(), addr_of(m, 6), Access::kRead).ok());
  ASSERT_TRUE(engine->resolve_fault(uffd.get(), addr_of(m, 1), Access::kRead).ok());
  EXPECT_EQ(provider.fetches_of(6), 1u);
  EXPECT_EQ(provider.fetches_of(1), 1u);
  EXPECT_EQ(provider.fetches_of(3), 0u);
  // A range over both pieces and the hole between them takes both.
  engine->detach(uffd.get(), addr_of(m), 8);
  EXPECT_EQ(engine->attachment_count(), 0u);
  EXPECT_FALSE(engine->resolve_fault(uffd.get(), addr_of(m, 6), Access::kRead).ok());
  munmap(m, 8 * kPage);
}

TEST(FaultEngineDetach, DetachAllForgetsOnlyThatUffd) {
  PatternProvider provider;
  auto engine = make_engine(&provider, 16);
  std::byte* a = map_frames(*engine, 0, 8);
  std::byte* b = map_frames(*engine, 8, 8);
  base::UniqueFd ua(new_uffd()), ub(new_uffd());
  // Three runs through one uffd, as an address space's fault-around makes.
  ASSERT_TRUE(engine->attach(ua.get(), addr_of(a), 0, 2).ok());
  ASSERT_TRUE(engine->attach(ua.get(), addr_of(a, 2), 2, 3).ok());
  ASSERT_TRUE(engine->attach(ua.get(), addr_of(a, 5), 5, 3).ok());
  ASSERT_TRUE(engine->attach(ub.get(), addr_of(b), 8, 8).ok());
  EXPECT_EQ(engine->attachment_count(), 4u);
  engine->detach_all(ua.get());
  EXPECT_EQ(engine->attachment_count(), 1u);
  EXPECT_FALSE(engine->resolve_fault(ua.get(), addr_of(a, 3), Access::kRead).ok());
  // The other uffd is still served, through its faults too.
  bool ok = false;
  std::thread([&] {
    ok = *reinterpret_cast<volatile uint64_t*>(b + kPage) == PatternProvider::pattern_word(9, 0);
  }).join();
  EXPECT_TRUE(ok);
  engine->detach_all(ua.get());  // again: nothing left, no-op
  engine->detach_all(ub.get());
  EXPECT_EQ(engine->attachment_count(), 0u);
  munmap(a, 8 * kPage);
  munmap(b, 8 * kPage);
}

// The bug detach_all fixes: a MemoryManager closed its uffd with attachments
// left in the engine, which then write-protected through a closed fd
// (EBADF, counted as ioctl_errors) on every downgrade, invalidation and
// eviction of those frames.
TEST(FaultEngineDetach, ClosedUffdIsNotTouchedByEvictionsAndProtection) {
  PatternProvider provider;
  auto engine = make_engine(&provider, 64, /*budget=*/8);
  std::byte* m = map_frames(*engine, 0, 64);
  int fd = new_uffd();
  ASSERT_TRUE(engine->attach(fd, addr_of(m), 0, 32).ok());
  ASSERT_TRUE(engine->attach(fd, addr_of(m, 32), 32, 32).ok());
  std::thread([&] {
    for (uint64_t f = 0; f < 8; ++f) *reinterpret_cast<volatile uint64_t*>(m + f * kPage) = f;
  }).join();
  engine->detach_all(fd);
  close(fd);
  // Writable frames downgraded and invalidated, then a scan through the
  // engine's own mapping four times the budget: evictions sample, protect
  // and punch every frame the closed uffd had.
  ASSERT_TRUE(engine->downgrade(0).ok());
  ASSERT_TRUE(engine->invalidate(1).ok());
  uint64_t sum = 0;
  std::thread([&] {
    for (int round = 0; round < 2; ++round) {
      for (uint64_t f = 0; f < 32; ++f) {
        auto* w = reinterpret_cast<volatile uint64_t*>(engine->base() + f * kPage + 8);
        *w = f;
        sum += *w;
      }
    }
  }).join();
  EXPECT_EQ(sum, 2 * (31 * 32 / 2));
  auto st = engine->stats();
  EXPECT_GT(st.evictions, 0u);
  EXPECT_EQ(st.ioctl_errors, 0u);
  // The write to frame 3 through the stub mapping came back with its frame.
  EXPECT_EQ(*reinterpret_cast<volatile uint64_t*>(engine->base() + 3 * kPage), 3u);
  munmap(m, 64 * kPage);
}

// A newer userfaultfd under the same fd number (and its mapping at the same
// address) is not taken for the old one: its faults resolve its own frames.
// (Without detach_all this test hangs: the new uffd is never read, since the
// engine thought the number was in its epoll set already.)
TEST(FaultEngineDetach, ReusedFdNumberIsANewUffd) {
  PatternProvider provider;
  auto engine = make_engine(&provider, 16);
  std::byte* m = map_frames(*engine, 0, 4);
  int fd = new_uffd();
  ASSERT_TRUE(engine->attach(fd, addr_of(m), 0, 4).ok());
  std::thread([&] { *reinterpret_cast<volatile uint64_t*>(m + 2 * kPage) = 5; }).join();
  engine->detach_all(fd);
  // The successor: frames 8..11 at the same address, under the same number.
  map_frames(*engine, 8, 4, m);
  int fresh = new_uffd();
  ASSERT_EQ(dup3(fresh, fd, O_CLOEXEC), fd);  // closes the old uffd
  close(fresh);
  base::UniqueFd uffd(fd);
  ASSERT_TRUE(engine->attach(uffd.get(), addr_of(m), 8, 4).ok());
  EXPECT_EQ(engine->attachment_count(), 1u);
  ASSERT_TRUE(engine->resolve_fault(uffd.get(), addr_of(m, 2), Access::kRead).ok());
  EXPECT_EQ(provider.fetches_of(10), 1u);
  EXPECT_EQ(provider.fetches_of(2), 1u);  // only the old write's
  // Downgrading the old uffd's frame 2 does not protect the new mapping's
  // page at the same address (frame 10, Writable): writing it is no fault.
  std::thread([&] { *reinterpret_cast<volatile uint64_t*>(m + 2 * kPage) = 7; }).join();
  const uint64_t faults = engine->stats().events;
  ASSERT_TRUE(engine->downgrade(2).ok());
  std::thread([&] { *reinterpret_cast<volatile uint64_t*>(m + 2 * kPage) = 8; }).join();
  EXPECT_EQ(engine->stats().events, faults);
  EXPECT_EQ(*reinterpret_cast<volatile uint64_t*>(engine->base() + 10 * kPage), 8u);
  EXPECT_EQ(*reinterpret_cast<volatile uint64_t*>(engine->base() + 2 * kPage), 5u);
  engine->detach_all(uffd.get());
  munmap(m, 4 * kPage);
}

}  // namespace
}  // namespace dsm
