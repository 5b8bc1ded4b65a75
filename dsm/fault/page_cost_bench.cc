// What one page of a DSM scan costs the receiving node on this machine,
// mechanism by mechanism, per 4 KiB page, moved in runs of 64 pages (256 KiB,
// the size of a read-ahead run and of the bare fabric baseline's reply):
//   CopyIntoReusedBuffer  memcpy into the same 256 KiB buffer every time:
//                         what the bare baseline's receive buffer sees
//   CopyIntoPresentPages  memcpy into pages that exist (a 256 MiB area, in turn)
//   PopulateFreshPages    MADV_POPULATE_WRITE of anonymous pages never used
//                         since the last MADV_DONTNEED: allocate and clear
//   UffdCopyFreshPages    UFFDIO_COPY into holes of a registered memfd
//                         mapping, write-protected like a Shared page: what
//                         installing a fetched run costs (since 2026-11-29
//                         12:20 UTC through dsm/fault/install_sink.h; the
//                         figures in docs before it installed writable)
//   UffdCopyAndPunch      the same into a full cache of 4096 pages: each
//                         run's pages punched before it is installed again
// docs/PERFORMANCE.md "Remote faults" cites it: a DSM receiver pays the
// fresh-page rows for every page, the baseline only the first.

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <span>
#include <vector>

#include <benchmark/benchmark.h>

#include "base/bytes.h"
#include "dsm/fault/install_sink.h"

namespace {

constexpr uint64_t kPage = base::kPageSize;
constexpr uint64_t kRun = 64;            // pages per operation
constexpr uint64_t kArea = 65536;        // pages (256 MiB) an operation moves through
constexpr uint64_t kPunchBehind = 4096;  // UffdCopyAndPunch: the cache's size, pages

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
  void* p =
      mmap(nullptr, kArea * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
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

// Installs into holes of a registered memfd mapping (dsm/fault/install_sink.h);
// a fresh sink every kArea pages, so that every install finds holes.
void UffdCopyFreshPages(benchmark::State& state) {
  auto src = source();
  const std::span<const std::byte> run(reinterpret_cast<const std::byte*>(src.data()), src.size());
  auto sink = dsm::InstallSink::Create(kArea);
  if (!sink.ok()) return state.SkipWithError(sink.error().message().c_str());
  for (auto _ : state) {
    if ((*sink)->installed_pages() == kArea) {
      state.PauseTiming();
      sink = dsm::InstallSink::Create(kArea);
      if (!sink.ok()) return state.SkipWithError(sink.error().message().c_str());
      state.ResumeTiming();
    }
    if (!(*sink)->install(run).ok()) return state.SkipWithError("UFFDIO_COPY");
  }
  per_page(state);
}

// The same into a full cache of kPunchBehind pages: each run's pages are
// punched before it is installed again.
void UffdCopyAndPunch(benchmark::State& state) {
  auto src = source();
  const std::span<const std::byte> run(reinterpret_cast<const std::byte*>(src.data()), src.size());
  auto sink = dsm::InstallSink::Create(kPunchBehind);
  if (!sink.ok()) return state.SkipWithError(sink.error().message().c_str());
  if (auto st = (*sink)->fill(); !st.ok()) return state.SkipWithError(st.error().message().c_str());
  for (auto _ : state) {
    if (!(*sink)->install(run).ok()) return state.SkipWithError("UFFDIO_COPY");
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
