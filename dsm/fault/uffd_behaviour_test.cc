// Pins down how the running kernel treats userfaultfd on a memfd with several
// mappings. The fault engine's design (docs/dsm-fault-engine.md) rests on each
// of these facts; if a kernel changes one, this test says which.

#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <optional>
#include <thread>

#include <gtest/gtest.h>

#include "base/bytes.h"
#include "dsm/fault/uffd.h"

namespace dsm {
namespace {

constexpr uint64_t kPage = base::kPageSize;
constexpr int kPages = 4;

struct Fixture {
  base::UniqueFd memfd;
  base::UniqueFd uffd;
  char* a = nullptr;  // two MAP_SHARED mappings of the same memfd
  char* b = nullptr;

  explicit Fixture(uint64_t features = uffd::kShmemFeatures) {
    memfd.reset(memfd_create("uffd-behaviour", MFD_CLOEXEC));
    EXPECT_TRUE(memfd.valid());
    EXPECT_EQ(ftruncate(memfd.get(), kPages * kPage), 0);
    a = static_cast<char*>(
        mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, memfd.get(), 0));
    b = static_cast<char*>(
        mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, memfd.get(), 0));
    auto fd = uffd::open(features);
    EXPECT_TRUE(fd.ok()) << fd.error().message();
    uffd = std::move(fd).value();
    EXPECT_TRUE(uffd::register_range(uffd.get(), uint64_t(a), kPages * kPage).ok());
    EXPECT_TRUE(uffd::register_range(uffd.get(), uint64_t(b), kPages * kPage).ok());
  }
  ~Fixture() {
    munmap(a, kPages * kPage);
    munmap(b, kPages * kPage);
  }

  // Waits up to `ms` for one fault event.
  std::optional<uffd_msg> next_fault(int ms) {
    pollfd p{uffd.get(), POLLIN, 0};
    if (poll(&p, 1, ms) <= 0) return std::nullopt;
    uffd_msg msg;
    if (read(uffd.get(), &msg, sizeof msg) != sizeof msg) return std::nullopt;
    return msg;
  }
  void punch(int page) {
    ASSERT_EQ(
        fallocate(memfd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, page * kPage, kPage), 0);
  }
};

// Runs `touch` on a thread; the caller serves its faults, then joins.
class Toucher {
 public:
  template <class F>
  explicit Toucher(F touch)
      : thread_([this, touch] {
          touch();
          done_ = true;
        }) {}
  ~Toucher() { thread_.join(); }
  bool done() const { return done_; }

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

std::array<char, kPage> page_of(char c) {
  std::array<char, kPage> p;
  p.fill(c);
  return p;
}

TEST(UffdBehaviour, CopyIntoOneMappingFillsSharedPageCache) {
  Fixture f;
  auto page = page_of('x');
  ASSERT_TRUE(uffd::copy(f.uffd.get(), uint64_t(f.a), page.data(), kPage, false).ok());
  // The other mapping sees the page without any userfaultfd event.
  char seen = 0;
  {
    Toucher t([&] { seen = *static_cast<volatile char*>(f.b); });
    EXPECT_FALSE(f.next_fault(200).has_value());
  }
  EXPECT_EQ(seen, 'x');
  // A second COPY to the same offset through the other mapping: EEXIST.
  auto again = uffd::copy(f.uffd.get(), uint64_t(f.b), page.data(), kPage, false);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), EEXIST);
}

TEST(UffdBehaviour, MissingFaultCarriesWriteFlag) {
  Fixture f;
  Toucher t([&] { f.b[kPage] = 1; });
  auto msg = f.next_fault(2000);
  ASSERT_TRUE(msg.has_value());
  EXPECT_EQ(msg->event, UFFD_EVENT_PAGEFAULT);
  EXPECT_EQ(msg->arg.pagefault.address, uint64_t(f.b) + kPage);
  EXPECT_TRUE(msg->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE);
  EXPECT_FALSE(msg->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP);
  auto page = page_of('y');
  // Resolve through the *other* mapping, then wake the faulting range.
  ASSERT_TRUE(uffd::copy(f.uffd.get(), uint64_t(f.a) + kPage, page.data(), kPage, false).ok());
  ASSERT_TRUE(uffd::wake(f.uffd.get(), uint64_t(f.b) + kPage, kPage).ok());
}

TEST(UffdBehaviour, CopyModeWpProtectsOnlyThatMapping) {
  Fixture f;
  auto page = page_of('p');
  ASSERT_TRUE(uffd::copy(f.uffd.get(), uint64_t(f.a), page.data(), kPage, true).ok());
  {
    // The other mapping carries no protection: its write goes through.
    Toucher t([&] { f.b[0] = 'b'; });
    EXPECT_FALSE(f.next_fault(200).has_value());
  }
  Toucher t([&] { f.a[0] = 'a'; });
  auto msg = f.next_fault(2000);
  ASSERT_TRUE(msg.has_value());
  EXPECT_TRUE(msg->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP);
  EXPECT_TRUE(msg->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE);
  ASSERT_TRUE(uffd::write_protect(f.uffd.get(), uint64_t(f.a), kPage, false).ok());
}

TEST(UffdBehaviour, WriteProtectOnEmptyPteSurvivesUntilPageArrives) {
  Fixture f;
  // Protect the whole of mapping b while nothing is present (shmem installs
  // pte markers), then fill the page through mapping a.
  ASSERT_TRUE(uffd::write_protect(f.uffd.get(), uint64_t(f.b), kPages * kPage, true).ok());
  auto page = page_of('r');
  ASSERT_TRUE(uffd::copy(f.uffd.get(), uint64_t(f.a), page.data(), kPage, false).ok());
  char seen = 0;
  {
    Toucher t([&] { seen = *static_cast<volatile char*>(f.b); });  // reads: no fault
    EXPECT_FALSE(f.next_fault(200).has_value());
  }
  EXPECT_EQ(seen, 'r');
  Toucher t([&] { f.b[0] = 'w'; });  // writes: a WP fault in b only
  auto msg = f.next_fault(2000);
  ASSERT_TRUE(msg.has_value());
  EXPECT_EQ(msg->arg.pagefault.address, uint64_t(f.b));
  EXPECT_TRUE(msg->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP);
  ASSERT_TRUE(uffd::write_protect(f.uffd.get(), uint64_t(f.b), kPage, false).ok());
}

TEST(UffdBehaviour, PunchHoleRefaultsMissingInEveryMappingAndKeepsWp) {
  Fixture f;
  auto page = page_of('1');
  ASSERT_TRUE(uffd::write_protect(f.uffd.get(), uint64_t(f.b), kPages * kPage, true).ok());
  ASSERT_TRUE(uffd::copy(f.uffd.get(), uint64_t(f.a), page.data(), kPage, false).ok());
  EXPECT_EQ(f.b[0], '1');  // maps the page into b (write-protected)
  f.punch(0);
  {
    // Both mappings fault MISSING again; one COPY serves both.
    Toucher ta([&] { (void)*static_cast<volatile char*>(f.a); });
    Toucher tb([&] { (void)*static_cast<volatile char*>(f.b); });
    auto m1 = f.next_fault(2000);
    auto m2 = f.next_fault(2000);
    ASSERT_TRUE(m1.has_value() && m2.has_value());
    EXPECT_EQ(m1->arg.pagefault.address + m2->arg.pagefault.address, uint64_t(f.a) + uint64_t(f.b));
    EXPECT_FALSE((m1->arg.pagefault.flags | m2->arg.pagefault.flags) & UFFD_PAGEFAULT_FLAG_WP);
    auto two = page_of('2');
    ASSERT_TRUE(uffd::copy(f.uffd.get(), uint64_t(f.a), two.data(), kPage, false).ok());
    ASSERT_TRUE(uffd::wake(f.uffd.get(), uint64_t(f.b), kPage).ok());
  }
  // b's protection outlived the punch (its pte marker is kept by the zap).
  Toucher t([&] { f.b[0] = 'w'; });
  auto msg = f.next_fault(2000);
  ASSERT_TRUE(msg.has_value());
  EXPECT_TRUE(msg->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP);
  ASSERT_TRUE(uffd::write_protect(f.uffd.get(), uint64_t(f.b), kPage, false).ok());
}

TEST(UffdBehaviour, UnprotectedPteIsNotProtectedAfterPunch) {
  Fixture f;
  auto page = page_of('1');
  ASSERT_TRUE(uffd::copy(f.uffd.get(), uint64_t(f.a), page.data(), kPage, false).ok());
  f.b[0] = 'z';  // b maps it writable
  f.punch(0);
  ASSERT_TRUE(uffd::copy(f.uffd.get(), uint64_t(f.a), page.data(), kPage, true).ok());
  // Nothing protects b now: a write-protected install in a is not enough.
  Toucher t([&] { f.b[0] = 'w'; });
  EXPECT_FALSE(f.next_fault(200).has_value());
}

thread_local sigjmp_buf* t_jump = nullptr;
void on_sigbus(int) { siglongjmp(*t_jump, 1); }

// Returns true when `touch` raised SIGBUS.
template <class F>
bool raises_sigbus(F touch) {
  bool bus = false;
  std::thread([&] {
    sigjmp_buf jump;
    t_jump = &jump;
    if (sigsetjmp(jump, 1) == 0) {
      touch();
    } else {
      bus = true;
    }
  }).join();
  return bus;
}

TEST(UffdBehaviour, SigbusFeatureTurnsMissingAndWpFaultsIntoSignals) {
  struct sigaction sa {
  }, old{};
  sa.sa_handler = on_sigbus;
  sigaction(SIGBUS, &sa, &old);
  Fixture f(uffd::kShmemFeatures | UFFD_FEATURE_SIGBUS);
  EXPECT_TRUE(raises_sigbus([&] { (void)*static_cast<volatile char*>(f.a); }));
  auto page = page_of('s');
  ASSERT_TRUE(uffd::copy(f.uffd.get(), uint64_t(f.a), page.data(), kPage, true).ok());
  EXPECT_FALSE(raises_sigbus([&] { (void)*static_cast<volatile char*>(f.a); }));
  EXPECT_TRUE(raises_sigbus([&] { f.a[0] = 'w'; }));
  ASSERT_TRUE(uffd::write_protect(f.uffd.get(), uint64_t(f.a), kPage, false).ok());
  EXPECT_FALSE(raises_sigbus([&] { f.a[0] = 'w'; }));
  EXPECT_FALSE(f.next_fault(100).has_value());  // no events with SIGBUS
  sigaction(SIGBUS, &old, nullptr);
}

}  // namespace
}  // namespace dsm
