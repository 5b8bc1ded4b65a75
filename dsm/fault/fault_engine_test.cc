// The fault engine against real userfaultfd: threads touch registered
// mappings and the engine resolves their faults through a PatternProvider.

#include "dsm/fault/fault_engine.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "base/bytes.h"
#include "dsm/fault/pattern_provider.h"
#include "dsm/fault/uffd.h"
#include "dsm/fault/zero_fill_provider.h"

namespace dsm {
namespace {

using std::chrono::milliseconds;
constexpr uint64_t kPage = base::kPageSize;

std::unique_ptr<FaultEngine> make_engine(PageProvider* provider, FaultEngineOptions o) {
  auto engine = FaultEngine::Create(o, provider);
  EXPECT_TRUE(engine.ok()) << engine.error().message();
  return std::move(engine).value();
}

FaultEngineOptions small(uint64_t frames) {
  FaultEngineOptions o;
  o.frames = frames;
  o.read_ahead_max = 0;
  return o;
}

volatile uint64_t* word(std::byte* base, uint64_t frame, uint64_t i = 0) {
  return reinterpret_cast<volatile uint64_t*>(base + frame * kPage) + i;
}

// Reads frame `frame` of `base` on another thread (so a hang shows as a
// failed join in the test log rather than a hung test main) and checks it.
bool frame_has_pattern(std::byte* base, uint64_t frame) {
  bool ok = true;
  for (uint64_t i = 0; i < kPage / 8; i += 61) {
    ok &= *word(base, frame, i) == PatternProvider::pattern_word(frame, i);
  }
  return ok;
}

TEST(FaultEngine, ReadMissGetsProviderPattern) {
  PatternProvider provider;
  auto engine = make_engine(&provider, small(16));
  bool ok = false;
  std::thread([&] { ok = frame_has_pattern(engine->base(), 3); }).join();
  EXPECT_TRUE(ok);
  EXPECT_EQ(provider.fetches(), 1u);
  // Latencies are recorded just after the waiters are woken: let it land.
  for (int i = 0; i < 1000 && engine->stats().total_ns.total() == 0; ++i) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  auto st = engine->stats();
  EXPECT_EQ(st.read_misses, 1u);
  EXPECT_EQ(st.write_misses, 0u);
  EXPECT_EQ(st.total_ns.total(), 1u);
  EXPECT_EQ(engine->resident(), 1u);
}

TEST(FaultEngine, ConcurrentFaultsOnOneFrameCoalesce) {
  PatternProvider provider(std::chrono::microseconds(50'000));
  FaultEngineOptions o = small(8);
  o.handler_threads = 3;
  auto engine = make_engine(&provider, o);
  constexpr int kThreads = 8;
  std::atomic<int> ready{0};
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < kThreads) {
      }
      if (t % 2 == 0) {
        good += frame_has_pattern(engine->base(), 5);
      } else {
        good +=
            engine->make_present(5, 1, Access::kRead).ok() && frame_has_pattern(engine->base(), 5);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), kThreads);
  EXPECT_EQ(provider.fetches_of(5), 1u);
  EXPECT_EQ(provider.fetches(), 1u);
  auto st = engine->stats();
  EXPECT_GE(st.coalesced, 1u);
  EXPECT_GE(st.events, st.event_reads);
}

TEST(FaultEngine, WriteToReadOnlyFrameUpgrades) {
  PatternProvider provider;
  auto engine = make_engine(&provider, small(8));
  std::thread([&] {
    EXPECT_TRUE(frame_has_pattern(engine->base(), 2));  // read miss: Shared
    *word(engine->base(), 2, 7) = 42;                   // write: upgrade
    *word(engine->base(), 4) = 7;                       // write miss: Exclusive at once
  }).join();
  EXPECT_EQ(provider.upgrades(), 1u);
  EXPECT_EQ(provider.fetches(), 3u);
  auto st = engine->stats();
  EXPECT_EQ(st.read_misses, 1u);
  EXPECT_EQ(st.write_upgrades, 1u);
  EXPECT_EQ(st.write_misses, 1u);
  EXPECT_EQ(*word(engine->base(), 2, 7), 42u);
  EXPECT_EQ(*word(engine->base(), 2, 8), PatternProvider::pattern_word(2, 8));
}

TEST(FaultEngine, UpgradeWithDataReplacesLocalCopy) {
  PatternProvider provider;
  provider.set_upgrade_with_data(true);
  auto engine = make_engine(&provider, small(4));
  std::thread([&] {
    (void)*word(engine->base(), 1);
    *word(engine->base(), 1, 3) = 99;
  }).join();
  EXPECT_EQ(provider.upgrades(), 1u);
  EXPECT_EQ(*word(engine->base(), 1, 3), 99u);
  EXPECT_EQ(*word(engine->base(), 1, 4), PatternProvider::pattern_word(1, 4));
}

TEST(FaultEngine, InvalidateThenTouchFaultsAgain) {
  PatternProvider provider;
  auto engine = make_engine(&provider, small(4));
  std::thread([&] { *word(engine->base(), 1) = 1234; }).join();
  ASSERT_TRUE(engine->invalidate(1).ok());
  EXPECT_EQ(engine->resident(), 0u);
  std::array<std::byte, kPage> out;
  EXPECT_FALSE(engine->read_page(1, out).ok());
  bool ok = false;
  std::thread([&] { ok = frame_has_pattern(engine->base(), 1); }).join();
  EXPECT_TRUE(ok);  // the local write was dropped with the page
  EXPECT_EQ(provider.fetches_of(1), 2u);
  EXPECT_EQ(engine->stats().invalidations, 1u);
}

TEST(FaultEngine, DowngradeMakesNextWriteFault) {
  PatternProvider provider;
  auto engine = make_engine(&provider, small(4));
  std::thread([&] { *word(engine->base(), 3) = 1; }).join();
  ASSERT_TRUE(engine->downgrade(3).ok());
  EXPECT_EQ(provider.upgrades(), 0u);
  std::thread([&] {
    EXPECT_EQ(*word(engine->base(), 3), 1u);  // reads need nothing
    *word(engine->base(), 3) = 2;
  }).join();
  EXPECT_EQ(provider.upgrades(), 1u);
  EXPECT_EQ(engine->stats().downgrades, 1u);
  std::array<std::byte, kPage> out;
  ASSERT_TRUE(engine->read_page(3, out).ok());
  uint64_t w;
  std::memcpy(&w, out.data(), 8);
  EXPECT_EQ(w, 2u);
}

TEST(FaultEngine, InstallWakesWaitersAndServesReads) {
  PatternProvider provider(std::chrono::microseconds(200'000));
  auto engine = make_engine(&provider, small(4));
  std::vector<std::byte> page(kPage, std::byte{0x5a});
  uint64_t seen = 0;
  std::thread reader([&] { seen = *word(engine->base(), 2); });
  std::this_thread::sleep_for(milliseconds(20));
  ASSERT_TRUE(engine->install(2, page.data(), false).ok());
  reader.join();
  EXPECT_EQ(seen, 0x5a5a5a5a5a5a5a5aull);
}

struct SecondMapping {
  FaultEngine& engine;
  base::UniqueFd uffd;
  std::byte* addr = nullptr;
  uint64_t frames = 0;
  SecondMapping(FaultEngine& e, uint64_t n) : engine(e), frames(n) {
    void* p = mmap(nullptr, n * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, engine.memfd(), 0);
    EXPECT_NE(p, MAP_FAILED);
    addr = static_cast<std::byte*>(p);
    int fd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
    EXPECT_GE(fd, 0);
    uffd.reset(fd);
    auto st = engine.attach(fd, reinterpret_cast<uint64_t>(addr), 0, n);
    EXPECT_TRUE(st.ok()) << st.error().message();
  }
  ~SecondMapping() {
    engine.detach(uffd.get(), reinterpret_cast<uint64_t>(addr), frames);  // before the close
    munmap(addr, frames * kPage);
  }
};

TEST(FaultEngine, TwoMappingsOfTheMemfdStayCoherent) {
  PatternProvider provider;
  auto engine = make_engine(&provider, small(8));
  SecondMapping stub(*engine, 8);
  std::byte* own = engine->base();
  std::thread([&] {
    EXPECT_TRUE(frame_has_pattern(stub.addr, 0));  // miss through the stub
    EXPECT_TRUE(frame_has_pattern(own, 0));        // present: no fetch
    EXPECT_TRUE(frame_has_pattern(own, 1));        // miss through the kernel's mapping
    *word(stub.addr, 1) = 11;  // Shared frame written through the other mapping: upgrade
    EXPECT_EQ(*word(own, 1), 11u);
    *word(own, 2) = 22;  // write miss through one, read through the other
    EXPECT_EQ(*word(stub.addr, 2), 22u);
    *word(stub.addr, 2) = 23;  // Writable: the lazy unprotect of the stub mapping
    EXPECT_EQ(*word(own, 2), 23u);
  }).join();
  EXPECT_EQ(provider.fetches_of(0), 1u);
  EXPECT_EQ(provider.fetches_of(1), 2u);  // the read, then the upgrade
  EXPECT_EQ(provider.fetches_of(2), 1u);
  EXPECT_EQ(provider.upgrades(), 1u);

  // Downgrade protects both mappings; invalidation makes both miss.
  ASSERT_TRUE(engine->downgrade(2).ok());
  std::thread([&] { *word(stub.addr, 2) = 24; }).join();
  EXPECT_EQ(provider.upgrades(), 2u);
  ASSERT_TRUE(engine->invalidate(2).ok());
  std::thread([&] {
    EXPECT_TRUE(frame_has_pattern(stub.addr, 2));
    EXPECT_TRUE(frame_has_pattern(own, 2));
    // Back as Shared: a write through either mapping must still be caught,
    // although the stub's pte was writable before the punch.
    *word(own, 2, 1) = 5;
  }).join();
  EXPECT_EQ(provider.fetches_of(2), 4u);
  EXPECT_EQ(provider.upgrades(), 3u);
  engine->detach(stub.uffd.get(), reinterpret_cast<uint64_t>(stub.addr), 8);
}

TEST(FaultEngine, BudgetHoldsAndEvictedDirtyFramesComeBack) {
  PatternProvider provider;
  FaultEngineOptions o = small(256);
  o.budget_frames = 32;
  o.read_ahead_max = 16;  // read-ahead must respect the budget too
  auto engine = make_engine(&provider, o);
  std::thread([&] {
    for (uint64_t f = 0; f < 256; ++f) {
      EXPECT_TRUE(frame_has_pattern(engine->base(), f));
      *word(engine->base(), f, 1) = f * 3 + 1;
    }
    for (uint64_t f = 0; f < 256; ++f) {
      ASSERT_EQ(*word(engine->base(), f, 1), f * 3 + 1) << "frame " << f;
      ASSERT_EQ(*word(engine->base(), f, 2), PatternProvider::pattern_word(f, 2));
    }
  }).join();
  auto st = engine->stats();
  EXPECT_LE(st.resident_max, 32u);
  EXPECT_LE(engine->resident(), 32u);
  EXPECT_GE(st.evictions, 256u - 32u);
  EXPECT_GE(provider.write_backs(), 256u - 32u);
  EXPECT_GE(st.write_backs, 256u - 32u);
  // What the provider holds for an evicted frame is what was written.
  std::vector<std::byte> stored = provider.stored(0);
  uint64_t w;
  std::memcpy(&w, stored.data() + 8, 8);
  EXPECT_EQ(w, 1u);
}

TEST(FaultEngine, ManyThreadsUnderBudgetLoseNoWrite) {
  PatternProvider provider(std::chrono::microseconds(100));
  FaultEngineOptions o = small(128);
  o.budget_frames = 16;
  o.handler_threads = 3;
  o.read_ahead_max = 8;
  auto engine = make_engine(&provider, o);
  constexpr int kThreads = 4, kRounds = 3;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Each thread owns word t of every frame: no data races, shared frames.
      uint64_t x = 12345 + t;
      for (int round = 1; round <= kRounds; ++round) {
        for (int i = 0; i < 128; ++i) {
          x = x * 6364136223846793005ull + 1442695040888963407ull;
          uint64_t f = (x >> 33) % 128;
          (void)*word(engine->base(), f, 100);
          *word(engine->base(), f, t) = f * 1000 + round * 10 + t;
        }
        for (uint64_t f = 0; f < 128; ++f) *word(engine->base(), f, t) = f * 1000 + round * 10 + t;
      }
    });
  }
  for (auto& t : threads) t.join();
  auto st = engine->stats();
  EXPECT_LE(st.resident_max, 16u);
  EXPECT_GT(st.evictions, 0u);
  bool ok = true;
  std::thread([&] {
    for (uint64_t f = 0; f < 128; ++f) {
      for (int t = 0; t < kThreads; ++t) {
        ok &= *word(engine->base(), f, t) == f * 1000 + kRounds * 10 + t;
      }
      ok &= *word(engine->base(), f, 100) == PatternProvider::pattern_word(f, 100);
    }
  }).join();
  EXPECT_TRUE(ok);
}

// Fails the first `failures` fetches, then serves the pattern.
class FlakyProvider final : public PageProvider {
 public:
  explicit FlakyProvider(int failures) : failures_(failures) {}
  void fetch(const FetchRequest& request, FetchDone done) override {
    if (failures_.fetch_sub(1) > 0) {
      done(base::Error("peer unreachable", EHOSTUNREACH));
      return;
    }
    inner_.fetch(request, std::move(done));
  }
  void evict(uint64_t frame, const std::byte* dirty, EvictDone done) override {
    inner_.evict(frame, dirty, std::move(done));
  }

 private:
  std::atomic<int> failures_;
  PatternProvider inner_;
};

TEST(FaultEngine, FailedFetchesAreRetriedByFaultsAndReportedByMakePresent) {
  FlakyProvider provider(3);
  auto engine = make_engine(&provider, small(4));
  bool ok = false;
  std::thread([&] { ok = frame_has_pattern(engine->base(), 1); }).join();
  EXPECT_TRUE(ok);  // the faulting thread retried until a fetch succeeded
  EXPECT_EQ(engine->stats().fetch_errors, 3u);
  EXPECT_EQ(engine->resident(), 1u);  // failed fetches gave their slots back

  FlakyProvider once(1);
  auto engine2 = make_engine(&once, small(4));
  auto st = engine2->make_present(2, 1, Access::kWrite);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), EHOSTUNREACH);
  EXPECT_TRUE(engine2->make_present(2, 1, Access::kWrite).ok());
  EXPECT_EQ(*word(engine2->base(), 2, 3), PatternProvider::pattern_word(2, 3));
}

TEST(FaultEngine, InstallRespectsBudgetAndRejectsBadFrames) {
  PatternProvider provider;
  FaultEngineOptions o = small(8);
  o.budget_frames = 2;
  o.high_watermark = 1.0;
  o.low_watermark = 1.0;
  auto engine = make_engine(&provider, o);
  std::vector<std::byte> page(kPage, std::byte{1});
  EXPECT_FALSE(engine->install(8, page.data(), true).ok());
  EXPECT_FALSE(engine->invalidate(99).ok());
  ASSERT_TRUE(engine->install(0, page.data(), true).ok());
  ASSERT_TRUE(engine->install(1, page.data(), false).ok());
  EXPECT_LE(engine->resident(), 2u);
  auto third = engine->install(2, page.data(), false);
  if (!third.ok()) {
    EXPECT_EQ(third.error().code(), ENOSPC);  // unless the evictor was quicker
  }
  EXPECT_LE(engine->stats().resident_max, 2u);
}

TEST(FaultEngine, ClockKeepsAWrittenFrameThroughAScan) {
  PatternProvider provider;
  FaultEngineOptions o = small(96);
  o.budget_frames = 8;
  auto engine = make_engine(&provider, o);
  std::thread([&] {
    for (uint64_t f = 1; f < 96; ++f) {
      *word(engine->base(), 0) = f;    // a hot, written frame
      (void)*word(engine->base(), f);  // a one-pass read scan
    }
  }).join();
  EXPECT_EQ(provider.fetches_of(0), 1u);  // never evicted
  EXPECT_GE(engine->stats().evictions, 95u - 8u);
  EXPECT_EQ(*word(engine->base(), 0), 95u);
}

TEST(FaultEngine, LatencySplitAttributesProviderTimeToNetwork) {
  PatternProvider provider(std::chrono::microseconds(5000));
  auto engine = make_engine(&provider, small(4));
  std::thread([&] { (void)*word(engine->base(), 0); }).join();
  for (int i = 0; i < 1000 && engine->stats().total_ns.total() == 0; ++i) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  auto st = engine->stats();
  ASSERT_EQ(st.network_ns.total(), 1u);
  // quantile_ns is a bucket's upper bound; the delay is a lower bound.
  EXPECT_GE(st.network_ns.quantile_ns(0.5), 5'000'000u);
  EXPECT_GE(st.total_ns.quantile_ns(0.5), 5'000'000u);
  EXPECT_EQ(st.uffd_ns.total(), 1u);
  EXPECT_EQ(st.protocol_ns.quantile_ns(0.5), 2u);  // bucket 0: nothing reported
}

TEST(FaultEngine, StagedReadAheadPagesAreServedInvalidatedAndCounted) {
  PatternProvider provider;
  FaultEngineOptions o = small(64);
  o.read_ahead_max = 8;
  auto engine = make_engine(&provider, o);
  bool ok = true;
  std::thread([&] {
    for (uint64_t f = 0; f < 4; ++f) ok &= frame_has_pattern(engine->base(), f);
  }).join();
  EXPECT_TRUE(ok);
  // Read-ahead is issued by a handler after the reader goes on: let it finish.
  uint64_t fetched = provider.fetches();
  for (int quiet = 0, i = 0; quiet < 20 && i < 2000; ++i) {
    std::this_thread::sleep_for(milliseconds(1));
    const uint64_t now = provider.fetches();
    quiet = now == fetched ? quiet + 1 : 0;
    fetched = now;
  }
  // Everything read ahead is resident (in the memfd or staged) and accounted.
  EXPECT_GT(fetched, 4u);
  EXPECT_EQ(engine->resident(), fetched);
  // make_present serves a staged page without asking the provider again.
  ASSERT_TRUE(engine->make_present(0, 32, Access::kRead).ok());
  const uint64_t after = provider.fetches();
  for (uint64_t f = 0; f < 32; ++f) EXPECT_LE(provider.fetches_of(f), 1u) << f;
  std::thread([&] {
    for (uint64_t f = 0; f < 32; ++f) ok &= frame_has_pattern(engine->base(), f);
  }).join();
  EXPECT_TRUE(ok);
  for (uint64_t f = 0; f < 64; ++f) ASSERT_TRUE(engine->invalidate(f).ok());
  EXPECT_EQ(engine->resident(), 0u);
  EXPECT_EQ(engine->stats().invalidations, after);
}

TEST(FaultEngine, BadArgumentsAreErrorsNotCrashes) {
  PatternProvider provider;
  auto engine = make_engine(&provider, small(4));
  EXPECT_FALSE(FaultEngine::Create(FaultEngineOptions{}, &provider).ok());
  EXPECT_FALSE(FaultEngine::Create(small(4), nullptr).ok());
  void* p = mmap(nullptr, 4 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, engine->memfd(), 0);
  auto fd = uffd::open(uffd::kShmemFeatures);
  ASSERT_TRUE(fd.ok());
  const uint64_t addr = reinterpret_cast<uint64_t>(p);
  EXPECT_FALSE(engine->attach(fd->get(), addr + 1, 0, 1).ok());              // unaligned
  EXPECT_FALSE(engine->attach(fd->get(), addr, 3, 2).ok());                  // past the frames
  EXPECT_FALSE(engine->attach(-1, addr, 0, 1).ok());                         // not a uffd
  EXPECT_FALSE(engine->resolve_fault(fd->get(), addr, Access::kRead).ok());  // not attached
  engine->detach(fd->get(), addr, 4);                                        // not attached: no-op
  EXPECT_FALSE(engine->make_present(3, 2, Access::kRead).ok());
  std::array<std::byte, kPage> page{};
  EXPECT_FALSE(engine->read_page(0, page).ok());  // absent
  EXPECT_FALSE(engine->downgrade(4).ok());
  munmap(p, 4 * kPage);
}

// A stand-in for the home node and a protocol: the home holds each frame's
// data; a per-frame lock serialises fetches, write-backs and the protocol's
// own operations on a frame, as a directory would.
class HomeProvider final : public PageProvider {
 public:
  explicit HomeProvider(uint64_t frames)
      : data_(frames, std::vector<std::byte>(kPage)), locks_(frames) {}
  void fetch(const FetchRequest& request, FetchDone done) override {
    // Answer under the frame's lock, as a home grants a copy only between
    // its other operations on the frame: a recall cannot fall between the
    // data leaving the home and the copy being installed. (Safe because the
    // engine never calls the provider back from inside done().)
    std::lock_guard lock(locks_[request.frame]);
    Supply supply;
    supply.page = data_[request.frame].data();  // never older than ours
    supply.writable = request.access == Access::kWrite;
    done(supply);
  }
  void evict(uint64_t frame, const std::byte* dirty, EvictDone done) override {
    std::lock_guard lock(locks_[frame]);
    if (dirty != nullptr) std::memcpy(data_[frame].data(), dirty, kPage);
    done(base::ok_status());
  }
  // The protocol taking a frame away (invalidate) or making it read-only
  // (downgrade); either way the data goes home first.
  void recall(FaultEngine& engine, uint64_t frame, bool invalidate) {
    std::lock_guard lock(locks_[frame]);
    ASSERT_TRUE(engine.downgrade(frame).ok());
    std::array<std::byte, kPage> page;
    if (engine.read_page(frame, page).ok()) std::memcpy(data_[frame].data(), page.data(), kPage);
    if (invalidate) {
      ASSERT_TRUE(engine.invalidate(frame).ok());
    }
  }

 private:
  std::vector<std::vector<std::byte>> data_;
  std::vector<std::mutex> locks_;
};

TEST(FaultEngine, RandomAccessWithRecallsAndEvictionLosesNoWrite) {
  constexpr uint64_t kFrames = 16;
  constexpr int kWorkers = 3, kOps = 1500;
  HomeProvider home(kFrames);
  FaultEngineOptions o = small(kFrames);
  o.budget_frames = 8;
  o.handler_threads = 3;
  o.read_ahead_max = 4;  // a scanner below makes staged read-ahead pages too
  auto engine = make_engine(&home, o);
  SecondMapping stub(*engine, kFrames);
  std::atomic<int> running{kWorkers};
  std::vector<std::array<uint64_t, kFrames>> counts(kWorkers);
  std::vector<std::thread> threads;
  for (int t = 0; t < kWorkers; ++t) {
    threads.emplace_back([&, t] {
      uint64_t x = 99 + t;
      counts[t].fill(0);
      for (int i = 0; i < kOps; ++i) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t f = (x >> 33) % kFrames;
        std::byte* m = (x >> 20) & 1 ? stub.addr : engine->base();
        *word(m, f, t) = *word(m, f, t) + 1;  // each worker owns word t
        ++counts[t][f];
      }
      running.fetch_sub(1);
    });
  }
  std::thread scanner([&] {
    for (uint64_t i = 0; running.load() > 0; ++i) (void)*word(stub.addr, i % kFrames, 200);
  });
  std::thread protocol([&] {
    uint64_t x = 7;
    while (running.load() > 0) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      home.recall(*engine, (x >> 33) % kFrames, (x >> 20) & 1);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  for (auto& t : threads) t.join();
  protocol.join();
  scanner.join();
  ASSERT_TRUE(engine->make_present(0, 8, Access::kRead).ok());
  std::string bad;
  std::thread([&] {
    for (uint64_t f = 0; f < kFrames; ++f) {
      for (int t = 0; t < kWorkers; ++t) {
        const uint64_t got = *word(engine->base(), f, t);
        if (got != counts[t][f]) {
          bad += "frame " + std::to_string(f) + " worker " + std::to_string(t) + ": " +
                 std::to_string(got) + " != " + std::to_string(counts[t][f]) + "; ";
        }
      }
    }
  }).join();
  auto st = engine->stats();
  EXPECT_EQ(bad, "") << st.to_string();
  EXPECT_LE(st.resident_max, 8u);
  EXPECT_GT(st.invalidations + st.downgrades, 0u);
}

uint64_t misses_for_scan(uint32_t read_ahead_max, FaultStatsSnapshot* stats) {
  PatternProvider provider;
  FaultEngineOptions o = small(512);
  o.read_ahead_max = read_ahead_max;
  auto engine = make_engine(&provider, o);
  bool ok = true;
  std::thread([&] {
    for (uint64_t f = 0; f < 512; ++f)
      ok &= *word(engine->base(), f) == PatternProvider::pattern_word(f, 0);
  }).join();
  EXPECT_TRUE(ok);
  *stats = engine->stats();
  return stats->read_misses;
}

TEST(FaultEngine, ReadAheadReducesFaultsOnSequentialScan) {
  FaultStatsSnapshot without, with;
  EXPECT_EQ(misses_for_scan(0, &without), 512u);
  uint64_t misses = misses_for_scan(64, &with);
  EXPECT_LT(misses, 64u) << with.to_string();
  EXPECT_GT(with.read_ahead_issued, 400u);
  // A read-ahead page the scanner reaches is a hit once installed, or a
  // fault that joins its fetch still in flight (coalesced): which of the two
  // depends on how fast the fetches run (a loaded machine gives more of the
  // second), their sum does not.
  EXPECT_GT(with.read_ahead_hits + with.coalesced, 400u) << with.to_string();
}

// A process other than the engine's: the child makes a userfaultfd in its own
// mm for its own mapping of the memfd; the parent pulls it over with
// pidfd_getfd and serves the child's faults.
TEST(FaultEngine, ServesFaultsOfAnotherProcess) {
  PatternProvider provider;
  auto engine = make_engine(&provider, small(8));
  int to_parent[2], to_child[2];
  ASSERT_EQ(pipe(to_parent), 0);
  ASSERT_EQ(pipe(to_child), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    void* p = mmap(nullptr, 8 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, engine->memfd(), 0);
    int fd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
    uint64_t msg[2] = {static_cast<uint64_t>(fd), reinterpret_cast<uint64_t>(p)};
    if (p == MAP_FAILED || fd < 0 || write(to_parent[1], msg, sizeof msg) != sizeof msg) _exit(2);
    char go;
    if (read(to_child[0], &go, 1) != 1) _exit(3);
    auto* w = static_cast<volatile uint64_t*>(p);
    for (uint64_t f = 0; f < 8; ++f) {
      if (w[f * kPage / 8 + 5] != PatternProvider::pattern_word(f, 5)) _exit(4);
    }
    w[0] = 0xc0ffee;
    _exit(0);
  }
  uint64_t msg[2];
  ASSERT_EQ(read(to_parent[0], msg, sizeof msg), static_cast<ssize_t>(sizeof msg));
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  ASSERT_GE(pidfd, 0);
  int uffd = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, static_cast<int>(msg[0]), 0));
  ASSERT_GE(uffd, 0) << std::strerror(errno);
  base::UniqueFd owned(uffd), owned_pidfd(pidfd);
  ASSERT_TRUE(engine->attach(uffd, msg[1], 0, 8).ok());
  ASSERT_EQ(write(to_child[1], "g", 1), 1);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(*word(engine->base(), 0), 0xc0ffeeu);
  EXPECT_EQ(provider.fetches(), 8u + 1u);  // 8 reads, one upgrade
  engine->detach(uffd, msg[1], 8);
  for (int fd : {to_parent[0], to_parent[1], to_child[0], to_child[1]}) close(fd);
}

// A client killed while its write fault waits for a slow fetch: the node
// detaches and closes its uffd, and a newer client gets the same fd number
// with a mapping of another frame at the same address. When the old fetch
// completes, its waiter must not unprotect the newer client's page (a write
// there would slip past the engine).
TEST(FaultEngine, WaiterOfADetachedUffdIsNotWokenOnItsSuccessor) {
  PatternProvider provider;
  auto engine = make_engine(&provider, small(8));
  std::thread([&] { EXPECT_TRUE(frame_has_pattern(engine->base(), 5)); }).join();  // Shared
  provider.set_delay(std::chrono::microseconds(400'000));
  // One address reserved in both processes for the two clients' mappings.
  void* slot = mmap(nullptr, kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(slot, MAP_FAILED);
  const uint64_t at = reinterpret_cast<uint64_t>(slot);
  int to_parent[2];
  ASSERT_EQ(pipe(to_parent), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    void* p = mmap(slot, kPage, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, engine->memfd(), 0);
    int fd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
    uint64_t msg = static_cast<uint64_t>(fd);
    if (p == MAP_FAILED || fd < 0 || write(to_parent[1], &msg, sizeof msg) != sizeof msg) _exit(2);
    usleep(100'000);  // the parent attaches meanwhile
    *static_cast<volatile uint64_t*>(p) = 1;  // a write miss on frame 0: waits 400 ms
    _exit(0);
  }
  uint64_t msg;
  ASSERT_EQ(read(to_parent[0], &msg, sizeof msg), static_cast<ssize_t>(sizeof msg));
  base::UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  ASSERT_TRUE(pidfd.valid());
  int old_uffd = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd.get(), static_cast<int>(msg), 0));
  ASSERT_GE(old_uffd, 0) << std::strerror(errno);
  ASSERT_TRUE(engine->attach(old_uffd, at, 0, 1).ok());
  // Wait until the child's fault is queued, then kill it mid-fault.
  for (int i = 0; i < 200 && provider.fetches_of(0) == 0; ++i) usleep(5'000);
  ASSERT_EQ(provider.fetches_of(0), 1u);
  kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  engine->detach(old_uffd, at, 1);
  // The successor: frame 5 at the same address, its uffd under the same number.
  ASSERT_NE(mmap(slot, kPage, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, engine->memfd(),
                 static_cast<off_t>(5 * kPage)),
            MAP_FAILED);
  int fresh = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  ASSERT_GE(fresh, 0);
  ASSERT_EQ(dup3(fresh, old_uffd, O_CLOEXEC), old_uffd);  // closes the old uffd
  close(fresh);
  base::UniqueFd uffd(old_uffd);
  ASSERT_TRUE(engine->attach(uffd.get(), at, 5, 1).ok());
  std::thread([&] {
    EXPECT_EQ(*static_cast<volatile uint64_t*>(slot), PatternProvider::pattern_word(5, 0));
  }).join();
  // Let the old fetch complete (a write grant: its waiters get unprotected).
  // (mincore: frame 0's page is in the memfd once the fetch is installed)
  unsigned char in_core = 0;
  for (int i = 0; i < 400 && !(in_core & 1); ++i) {
    usleep(5'000);
    ASSERT_EQ(mincore(engine->base(), kPage, &in_core), 0);
  }
  ASSERT_TRUE(in_core & 1) << "the fetch of frame 0 never completed";
  usleep(20'000);  // its waiters are woken right after the copy
  provider.set_delay({});
  const uint64_t upgrades = provider.upgrades();
  std::thread([&] { *static_cast<volatile uint64_t*>(slot) = 7; }).join();
  EXPECT_EQ(provider.upgrades(), upgrades + 1) << "the write to frame 5 was not seen";
  EXPECT_EQ(*word(engine->base(), 5), 7u);
  engine->detach(uffd.get(), at, 1);
  munmap(slot, kPage);
  close(to_parent[0]);
  close(to_parent[1]);
}

// UFFD_FEATURE_SIGBUS: the thread gets SIGBUS instead of blocking, and the
// caller (the tracer, in the guest kernel) resolves the fault itself.
thread_local sigjmp_buf* t_jump = nullptr;
thread_local uint64_t t_fault_addr = 0;
void on_sigbus(int, siginfo_t* info, void*) {
  t_fault_addr = reinterpret_cast<uint64_t>(info->si_addr);
  siglongjmp(*t_jump, 1);
}

TEST(FaultEngine, ResolveFaultServesSigbusMode) {
  PatternProvider provider;
  auto engine = make_engine(&provider, small(4));
  struct sigaction sa {
  }, old{};
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGBUS, &sa, &old);
  void* p = mmap(nullptr, 4 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, engine->memfd(), 0);
  ASSERT_NE(p, MAP_FAILED);
  auto fd = uffd::open(uffd::kShmemFeatures | UFFD_FEATURE_SIGBUS);
  ASSERT_TRUE(fd.ok());
  ASSERT_TRUE(engine->attach(fd->get(), reinterpret_cast<uint64_t>(p), 0, 4).ok());
  int signals = 0;
  uint64_t seen = 0;
  std::thread([&] {
    sigjmp_buf jump;
    t_jump = &jump;
    volatile int step = 0;  // 0: read, 1: write
    if (sigsetjmp(jump, 1) != 0) {
      ++signals;
      // SIGBUS does not tell reads from writes: always pass kRead and let the
      // engine infer the write from the frame being present.
      auto st = engine->resolve_fault(fd->get(), t_fault_addr, Access::kRead);
      EXPECT_TRUE(st.ok()) << st.error().message();
      if (signals > 4) return;
    }
    auto* w = static_cast<volatile uint64_t*>(p);
    if (step == 0) seen = w[kPage / 8 + 1];
    step = 1;
    w[kPage / 8 + 1] = 77;
  }).join();
  sigaction(SIGBUS, &old, nullptr);
  EXPECT_EQ(signals, 2);  // one read miss, one write to the Shared copy
  EXPECT_EQ(seen, PatternProvider::pattern_word(1, 1));
  EXPECT_EQ(*word(engine->base(), 1, 1), 77u);
  EXPECT_EQ(provider.upgrades(), 1u);
  engine->detach(fd->get(), reinterpret_cast<uint64_t>(p), 4);
  munmap(p, 4 * kPage);
}

TEST(FaultEngine, ZeroFillProviderGivesZeros) {
  ZeroFillProvider provider;
  auto engine = make_engine(&provider, small(4));
  std::thread([&] {
    EXPECT_EQ(*word(engine->base(), 0, 9), 0u);
    *word(engine->base(), 0, 9) = 3;
    EXPECT_EQ(*word(engine->base(), 0, 9), 3u);
  }).join();
  EXPECT_EQ(engine->stats().write_upgrades, 1u);
}

}  // namespace
}  // namespace dsm

namespace dsm {
namespace {

// The evictor takes victims in groups and punches consecutive ones with one
// fallocate: a read scan under a budget leaves in ranges, not page by page.
TEST(FaultEngine, EvictorPunchesConsecutiveVictimsAsRanges) {
  PatternProvider provider;
  FaultEngineOptions o = small(512);
  o.budget_frames = 64;
  auto engine = make_engine(&provider, o);
  std::thread([&] {
    for (uint64_t f = 0; f < 512; ++f) EXPECT_TRUE(frame_has_pattern(engine->base(), f));
    // Evicted frames come back intact.
    for (uint64_t f = 0; f < 64; ++f) EXPECT_TRUE(frame_has_pattern(engine->base(), f));
  }).join();
  auto st = engine->stats();
  EXPECT_LE(st.resident_max, 64u);
  EXPECT_GE(st.evictions, 512u - 64u);
  EXPECT_GT(st.punches, 0u);
  EXPECT_LT(st.punches * 2, st.evictions);  // most punches took several frames
}

}  // namespace
}  // namespace dsm

namespace dsm {
namespace {

// A group of victims longer than the stripe count (several frames of one
// stripe) is settled under each stripe lock taken once (taking one twice
// would hang here) and punched with one call; the frames come back intact.
// The evictor's first round starts at 0.9 x 1024 resident frames and takes
// at least (0.9 - 0.75) x 1024 = 153 of them, frames 0.. in install order.
TEST(FaultEngine, EvictorPunchesRangesLongerThanTheStripes) {
  PatternProvider provider;
  FaultEngineOptions o = small(2048);
  o.budget_frames = 1024;
  auto engine = make_engine(&provider, o);
  std::thread([&] {
    for (uint64_t f = 0; f < 2048; ++f) EXPECT_TRUE(frame_has_pattern(engine->base(), f));
    for (uint64_t f = 0; f < 256; ++f) EXPECT_TRUE(frame_has_pattern(engine->base(), f));
  }).join();
  auto st = engine->stats();
  EXPECT_LE(st.resident_max, 1024u);
  EXPECT_GE(st.evictions, 2048u - 1024u);
  EXPECT_GT(st.punches, 0u);
  EXPECT_LT(st.punches * 2, st.evictions);
}

}  // namespace
}  // namespace dsm
