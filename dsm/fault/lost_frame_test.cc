// A lost frame (PageProvider answers kFrameLostErrno: a node died with its
// only copy, dsm/PROTOCOLS.md "Node failure"): the engine poisons the page
// where the threads fault (UFFDIO_POISON), so they get SIGBUS instead of
// faulting again; make_present() reports the error; other frames are
// unaffected. Real userfaultfd, in the engine's own mapping and in a second
// mapping attached with its own userfaultfd.

#include <sys/mman.h>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "base/bytes.h"
#include "dsm/fault/fault_engine.h"
#include "dsm/fault/sigbus_test_util.h"
#include "dsm/fault/uffd.h"
#include "dsm/fault/zero_fill_provider.h"

namespace dsm {
namespace {

constexpr uint64_t kPage = base::kPageSize;
constexpr uint64_t kLost = 2;

// Frame kLost is lost; the others are zero pages.
class LosingProvider final : public PageProvider {
 public:
  void fetch(const FetchRequest& request, FetchDone done) override {
    if (request.frame == kLost) {
      fetches_.fetch_add(1);
      done(base::Error("frame lost", kFrameLostErrno));
      return;
    }
    inner_.fetch(request, std::move(done));
  }
  void evict(uint64_t frame, const std::byte* dirty, EvictDone done) override {
    inner_.evict(frame, dirty, std::move(done));
  }
  int fetches() const { return fetches_.load(); }

 private:
  std::atomic<int> fetches_{0};
  ZeroFillProvider inner_;
};

// Reads `p` on a new thread; true when that read got SIGBUS.
bool read_gets_sigbus(const std::byte* p) {
  bool bus = false;
  std::thread([&] {
    bus = testing::gets_sigbus([p] { (void)*reinterpret_cast<const volatile uint64_t*>(p); });
  }).join();
  return bus;
}

TEST(FaultEngineLostFrame, FaultingThreadGetsSigbusOthersAreServed) {
  LosingProvider provider;
  FaultEngineOptions o;
  o.frames = 4;
  o.read_ahead_max = 0;
  auto made = FaultEngine::Create(o, &provider);
  ASSERT_TRUE(made.ok()) << made.error().message();
  auto engine = std::move(made).value();
  EXPECT_TRUE(read_gets_sigbus(engine->base() + kLost * kPage));
  EXPECT_TRUE(read_gets_sigbus(engine->base() + kLost * kPage + 8));  // poisoned for good
  EXPECT_EQ(provider.fetches(), 1);  // the second touch never reached the provider
  EXPECT_FALSE(read_gets_sigbus(engine->base() + 1 * kPage));
  base::Status st = engine->make_present(kLost, 1, Access::kRead);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), kFrameLostErrno);
}

TEST(FaultEngineLostFrame, SecondMappingGetsSigbusToo) {
  LosingProvider provider;
  FaultEngineOptions o;
  o.frames = 4;
  o.read_ahead_max = 0;
  auto engine = std::move(FaultEngine::Create(o, &provider)).value();
  void* m = ::mmap(nullptr, 4 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, engine->memfd(), 0);
  ASSERT_NE(m, MAP_FAILED);
  auto* base = static_cast<std::byte*>(m);
  auto fd = uffd::open(uffd::kShmemFeatures, uffd::kOptionalFeatures);
  ASSERT_TRUE(fd.ok()) << fd.error().message();
  ASSERT_TRUE(engine->attach(fd->get(), reinterpret_cast<uint64_t>(base), 0, 4).ok());
  EXPECT_TRUE(read_gets_sigbus(base + kLost * kPage));
  EXPECT_FALSE(read_gets_sigbus(base + 3 * kPage));
  engine->detach(fd->get(), reinterpret_cast<uint64_t>(base), 4 * kPage);
  ::munmap(m, 4 * kPage);
}

}  // namespace
}  // namespace dsm
