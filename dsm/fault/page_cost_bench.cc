// What one page of a DSM scan costs the receiving node on this machine,
// mechanism by mechanism, per 4 KiB page, moved in runs of 64 pages (256 KiB,
// the size of a read-ahead run and of the bare fabric baseline's reply):
//   CopyIntoReusedBuffer  memcpy into the same 256 KiB buffer every time:
//                         what the bare baseline's receive buffer sees
//   CopyIntoPresentPages  memcpy into pages that exist (a 256 MiB area, in turn)
//   PopulateFreshPages    MADV_POPULATE_WRITE of anonymous pages never used
//                         since the last MADV_DONTNEED: allocate and clear
//   UffdCopyFreshPages    UFFDIO_COPY into holes of a registered memfd
//                         mapping: what installing a fetched run costs
//   UffdCopyAndPunch      the same, punching the 64 pages installed 4096
//                         pages earlier (a full cache evicting as it fills)
// docs/PERFORMANCE.md "Remote faults" cites it: a DSM receiver pays the
// fresh-page rows for every page, the baseline only the first.

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include <benchmark/benchmark.h>

#include "base/bytes.h"
#include "base/unique_fd.h"
#include "dsm/fault/uffd.h"

namespace {

constexpr uint64_t kPage = base::kPageSize;
constexpr uint64_t kRun = 64;               // pages per operation
constexpr uint64_t kArea = 65536;           // pages (256 MiB) an operation moves through
constexpr uint64_t kPunchBehind = 4096;     // UffdCopyAndPunch: the cache's size, pages

std::vector<char> source() { return std::vector<char>(kRun * kPage, 7); }

// Seconds a page ("2.1u" = 2.1 us), from the iterations' real time.
void per_page(benchmark::State& state) {
  state.counters["per_page"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kRun),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void CopyIntoReusedBuffer(benchmark::State& state) {
  auto src = source();
  std::vector<char> dst(kRun * kPage);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), dst.size());
    benchmark::DoNotOptimize(dst.data());
  }
  per_page(state);
}

char* anon_area() {
  void* p = mmap(nullptr, kArea * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<char*>(p);
}

void CopyIntoPresentPages(benchmark::State& state) {
  auto src = source();
  char* area = anon_area();
  if (!area) return state.SkipWithError("mmap");
  std::memset(area, 1, kArea * kPage);
  uint64_t at = 0;
  for (auto _ : state) {
    std::memcpy(area + at * kPage, src.data(), kRun * kPage);
    at = (at + kRun) % kArea;
  }
  per_page(state);
  munmap(area, kArea * kPage);
}

void PopulateFreshPages(benchmark::State& state) {
  char* area = anon_area();
  if (!area) return state.SkipWithError("mmap");
  uint64_t at = 0;
  for (auto _ : state) {
    if (madvise(area + at * kPage, kRun * kPage, 23 /* MADV_POPULATE_WRITE */) != 0) {
      return state.SkipWithError("MADV_POPULATE_WRITE");
    }
    at += kRun;
    if (at == kArea) {
      state.PauseTiming();
      madvise(area, kArea * kPage, MADV_DONTNEED);
      at = 0;
      state.ResumeTiming();
    }
  }
  per_page(state);
  munmap(area, kArea * kPage);
}

// A memfd mapping registered with userfaultfd (MISSING | WP, as the engine's).
struct Registered {
  base::UniqueFd memfd, uffd;
  char* base = nullptr;
  bool ok = false;
  Registered() {
    memfd.reset(memfd_create("page-cost", MFD_CLOEXEC));
    if (!memfd.valid() || ftruncate(memfd.get(), kArea * kPage) != 0) return;
    void* p = mmap(nullptr, kArea * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, memfd.get(), 0);
    if (p == MAP_FAILED) return;
    base = static_cast<char*>(p);
    auto fd = dsm::uffd::open(dsm::uffd::kShmemFeatures);
    if (!fd.ok()) return;
    uffd = std::move(fd).value();
    ok = dsm::uffd::register_range(uffd.get(), reinterpret_cast<uint64_t>(base), kArea * kPage)
             .ok();
  }
  ~Registered() {
    if (base) munmap(base, kArea * kPage);
  }
  bool install(uint64_t page, const char* src) {
    return dsm::uffd::copy(uffd.get(), reinterpret_cast<uint64_t>(base + page * kPage), src,
                           kRun * kPage, false)
        .ok();
  }
  void punch(uint64_t page, uint64_t pages) {
    fallocate(memfd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, page * kPage,
              pages * kPage);
  }
};

void UffdCopyFreshPages(benchmark::State& state) {
  auto src = source();
  Registered r;
  if (!r.ok) return state.SkipWithError("userfaultfd on a memfd");
  uint64_t at = 0;
  for (auto _ : state) {
    if (!r.install(at, src.data())) return state.SkipWithError("UFFDIO_COPY");
    at += kRun;
    if (at == kArea) {
      state.PauseTiming();
      r.punch(0, kArea);
      at = 0;
      state.ResumeTiming();
    }
  }
  per_page(state);
}

void UffdCopyAndPunch(benchmark::State& state) {
  auto src = source();
  Registered r;
  if (!r.ok) return state.SkipWithError("userfaultfd on a memfd");
  uint64_t at = 0, installed = 0;
  for (auto _ : state) {
    if (installed >= kPunchBehind) r.punch((at + kArea - kPunchBehind) % kArea, kRun);
    if (!r.install(at, src.data())) return state.SkipWithError("UFFDIO_COPY");
    installed += kRun;
    at = (at + kRun) % kArea;
  }
  per_page(state);
}

}  // namespace

BENCHMARK(CopyIntoReusedBuffer)->UseRealTime();
BENCHMARK(CopyIntoPresentPages)->UseRealTime();
BENCHMARK(PopulateFreshPages)->UseRealTime();
BENCHMARK(UffdCopyFreshPages)->UseRealTime();
BENCHMARK(UffdCopyAndPunch)->UseRealTime();
BENCHMARK_MAIN();
