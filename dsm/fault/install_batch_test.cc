// Install batches (FaultEngine::open_batch/close_batch) on real userfaultfd:
// answers for consecutive frames whose pages lie back to back go in with one
// UFFDIO_COPY, and the engine's other calls keep their order around a batch.

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "base/bytes.h"
#include "dsm/fault/fault_engine.h"
#include "dsm/fault/pattern_provider.h"

namespace dsm {
namespace {

constexpr uint64_t kPage = base::kPageSize;

// Keeps every fetch until the test answers it (as a transport would when a
// run of pages arrives).
class HoldingProvider final : public PageProvider {
 public:
  void fetch(const FetchRequest& request, FetchDone done) override {
    {
      std::lock_guard lock(mu_);
      if (!auto_) {
        pending_.push_back({request, std::move(done)});
        cv_.notify_all();
        return;
      }
    }
    answer(request, done);
  }
  void evict(uint64_t, const std::byte*, EvictDone done) override { done({}); }

  // From now on every fetch (and those held) is answered at once with the
  // frame's pattern.
  void answer_from_now_on() {
    std::vector<std::pair<FetchRequest, FetchDone>> held;
    {
      std::lock_guard lock(mu_);
      auto_ = true;
      held.swap(pending_);
    }
    for (auto& [r, done] : held) answer(r, done);
  }

  // Waits for `n` fetches and takes them, ordered by frame.
  std::vector<std::pair<FetchRequest, FetchDone>> take(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return pending_.size() >= n; });
    auto out = std::move(pending_);
    pending_.clear();
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.first.frame < b.first.frame; });
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<FetchRequest, FetchDone>> pending_;
  bool auto_ = false;

  static void answer(const FetchRequest& r, FetchDone& done) {
    auto page = PatternProvider::pattern(r.frame);
    Supply s;
    s.page = page.data();
    s.writable = r.access == Access::kWrite;
    done(s);
  }
};

// `count` pages back to back, each frame's PatternProvider pattern.
struct RunBuffer {
  RunBuffer(uint64_t first, uint64_t count) : bytes(count * kPage) {
    for (uint64_t i = 0; i < count; ++i) {
      auto p = PatternProvider::pattern(first + i);
      std::memcpy(bytes.data() + i * kPage, p.data(), kPage);
    }
  }
  const std::byte* page(uint64_t i) const { return bytes.data() + i * kPage; }
  std::vector<std::byte> bytes;
};

std::unique_ptr<FaultEngine> engine_for(PageProvider* provider, uint64_t frames) {
  FaultEngineOptions o;
  o.frames = frames;
  o.read_ahead_max = 0;
  auto e = FaultEngine::Create(o, provider);
  EXPECT_TRUE(e.ok()) << e.error().message();
  return std::move(e).value();
}

bool has_pattern(const std::byte* base, uint64_t frame) {
  auto* w = reinterpret_cast<const volatile uint64_t*>(base + frame * kPage);
  for (uint64_t i = 0; i < kPage / 8; i += 61) {
    if (w[i] != PatternProvider::pattern_word(frame, i)) return false;
  }
  return true;
}

// One reader thread per frame in [first, first+count), each faulting once.
std::vector<std::thread> readers(FaultEngine& e, uint64_t first, uint64_t count,
                                 std::atomic<int>* good) {
  std::vector<std::thread> ts;
  for (uint64_t f = first; f < first + count; ++f) {
    ts.emplace_back([&e, f, good] {
      if (has_pattern(e.base(), f)) good->fetch_add(1);
    });
  }
  return ts;
}

Supply lasting(const std::byte* page, bool writable = false) {
  Supply s;
  s.page = page;
  s.writable = writable;
  s.page_lasts = true;
  return s;
}

// Readers fault on frames [first, first+count); their answers, one run of
// pages back to back, are held by a batch opened on this thread.
struct HeldRun {
  HeldRun(uint64_t first, uint64_t count) : buf(first, count) {
    ts = readers(*engine, first, count, &good);
    auto fetches = provider.take(count);
    engine->open_batch();
    for (size_t i = 0; i < count; ++i) fetches[i].second(lasting(buf.page(i)));
  }
  // Waits for the readers; how many read their frame's pattern.
  int readers_done() {
    for (auto& t : ts) t.join();
    ts.clear();
    return good.load();
  }
  ~HeldRun() { readers_done(); }

  HoldingProvider provider;
  std::unique_ptr<FaultEngine> engine = engine_for(&provider, 64);
  RunBuffer buf;
  std::atomic<int> good{0};
  std::vector<std::thread> ts;
};

TEST(InstallBatch, RunOfConsecutiveFramesTakesOneCopy) {
  HeldRun run(8, 16);
  FaultEngine& engine = *run.engine;
  EXPECT_EQ(engine.stats().run_copies, 0u);  // held until the batch closes
  engine.close_batch();
  EXPECT_EQ(run.readers_done(), 16);
  auto st = engine.stats();
  EXPECT_EQ(st.run_copies, 1u);
  EXPECT_EQ(st.run_copy_pages, 16u);
  EXPECT_EQ(engine.resident(), 16u);
}

TEST(InstallBatch, PagesNotBackToBackOrFramesPresentSplitTheRun) {
  HoldingProvider provider;
  auto engine = engine_for(&provider, 64);
  std::atomic<int> first{0};
  auto ts = readers(*engine, 0, 12, &first);
  auto fetches = provider.take(12);
  // Frames 0-5 from one buffer, 6-11 from another: two copies. Frame 3 was
  // installed unasked meanwhile (its waiters woken then): its answer only
  // refreshes the data, and splits the first piece into 0-2 and 4-5.
  RunBuffer a(0, 6), b(5, 7);  // b.page(0) is a gap: b never follows a
  auto stale = PatternProvider::pattern(99);
  ASSERT_TRUE(engine->install(3, stale.data(), false).ok());
  engine->open_batch();
  for (size_t i = 0; i < 12; ++i) {
    fetches[i].second(lasting(i < 6 ? a.page(i) : b.page(i - 5)));
  }
  engine->close_batch();
  for (auto& t : ts) t.join();
  std::atomic<int> after{0};
  for (auto& t : readers(*engine, 0, 12, &after)) t.join();
  EXPECT_EQ(after.load(), 12);  // frame 3 holds the answer, not the stale bytes
  auto st = engine->stats();
  EXPECT_EQ(st.run_copies, 3u);
  EXPECT_EQ(st.run_copy_pages, 11u);
  EXPECT_EQ(engine->resident(), 12u);
}

TEST(InstallBatch, OtherCallsInstallWhatIsHeldFirst) {
  HeldRun run(20, 4);
  FaultEngine& engine = *run.engine;
  // The protocol drops frame 21 in the same batch: the grant before it must
  // not be installed after it (that would resurrect a stale copy).
  ASSERT_TRUE(engine.invalidate(21).ok());
  std::vector<std::byte> out(kPage);
  EXPECT_FALSE(engine.read_page(21, out).ok());
  ASSERT_TRUE(engine.read_page(22, out).ok());
  EXPECT_EQ(std::memcmp(out.data(), run.buf.page(2), kPage), 0);
  EXPECT_EQ(engine.stats().run_copies, 1u);
  // Frame 21's reader may have faulted again after the invalidation.
  run.provider.answer_from_now_on();
  engine.close_batch();
  EXPECT_EQ(run.readers_done(), 4);
  EXPECT_EQ(engine.stats().run_copies, 1u);
}

TEST(InstallBatch, AnotherThreadsCallOnAHeldFrameWaitsForTheBatch) {
  HeldRun run(30, 4);
  FaultEngine& engine = *run.engine;
  // A provider that closes its batch after releasing its own lock lets other
  // threads act on the frames meanwhile: an invalidation of frame 31 decided
  // after its grant must wait for the grant's install, not be undone by it.
  std::atomic<bool> invalidated{false};
  std::thread other([&] {
    EXPECT_TRUE(engine.invalidate(31).ok());
    invalidated = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(invalidated.load());  // still waiting for the batch
  EXPECT_EQ(engine.stats().run_copies, 0u);
  run.provider.answer_from_now_on();  // 31's reader may fault again afterwards
  engine.close_batch();
  other.join();
  EXPECT_TRUE(invalidated.load());
  EXPECT_EQ(engine.stats().invalidations, 1u);
  EXPECT_EQ(run.readers_done(), 4);
  // Frame 33, not touched by the other thread, went in with the run.
  std::vector<std::byte> out(kPage);
  ASSERT_TRUE(engine.read_page(33, out).ok());
  EXPECT_EQ(std::memcmp(out.data(), run.buf.page(3), kPage), 0);
  EXPECT_EQ(engine.stats().run_copies, 1u);
  EXPECT_EQ(engine.stats().run_copy_pages, 4u);
}

TEST(InstallBatch, WritableRunNeedsNoUpgradeAndUnbatchedAnswersGoAtOnce) {
  HoldingProvider provider;
  auto engine = engine_for(&provider, 64);
  std::vector<std::thread> writers;
  for (uint64_t f = 40; f < 44; ++f) {
    writers.emplace_back(
        [&e = *engine, f] { *reinterpret_cast<volatile uint64_t*>(e.base() + f * kPage) = f; });
  }
  auto fetches = provider.take(4);
  RunBuffer buf(40, 4);
  engine->open_batch();
  for (size_t i = 0; i < 3; ++i) fetches[i].second(lasting(buf.page(i), true));
  // Without page_lasts an answer is installed before `done` returns.
  Supply now;
  now.page = buf.page(3);
  now.writable = true;
  fetches[3].second(now);
  engine->close_batch();
  for (auto& t : writers) t.join();
  for (uint64_t f = 40; f < 44; ++f) {
    EXPECT_EQ(*reinterpret_cast<volatile uint64_t*>(engine->base() + f * kPage), f);
  }
  auto st = engine->stats();
  EXPECT_EQ(st.write_upgrades, 0u);
  EXPECT_EQ(st.run_copies, 1u);
  EXPECT_EQ(st.run_copy_pages, 3u);
  engine->close_batch();  // no batch open: nothing happens
}

}  // namespace
}  // namespace dsm
