// Micro-benchmarks of one local 4 KiB fault:
//   RawUffdCopy     the raw mechanism: a thread reads a page of a memfd
//                   mapping registered MISSING; a minimal handler thread
//                   answers with UFFDIO_COPY of a zero page.
//   EngineZeroFill  the same fault through the FaultEngine (MISSING | WP,
//                   handler pool, request table, stats) with ZeroFillProvider.
// At the end it prints engine/raw, the engine's overhead over the mechanism.

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <map>
#include <string>
#include <thread>

#include <benchmark/benchmark.h>

#include "base/bytes.h"
#include "dsm/fault/fault_engine.h"
#include "dsm/fault/uffd.h"
#include "dsm/fault/zero_fill_provider.h"

namespace {

constexpr uint64_t kPage = base::kPageSize;
constexpr uint64_t kFrames = 2048;  // touched in turn; re-punched when used up

class RawHandler {
 public:
  // wp: register MISSING | WP and write-protect every pte first, as the
  // engine does (pte markers), to separate the kernel's cost from the engine's.
  explicit RawHandler(bool wp = false) {
    memfd_.reset(memfd_create("raw-bench", MFD_CLOEXEC));
    (void)!ftruncate(memfd_.get(), kFrames * kPage);
    base_ = static_cast<char*>(
        mmap(nullptr, kFrames * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, memfd_.get(), 0));
    int fd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
    uffd_.reset(fd);
    uffdio_api api{UFFD_API, wp ? dsm::uffd::kShmemFeatures : UFFD_FEATURE_MISSING_SHMEM, 0};
    ioctl(fd, UFFDIO_API, &api);
    uffdio_register reg{};
    reg.range = {reinterpret_cast<uint64_t>(base_), kFrames * kPage};
    reg.mode = UFFDIO_REGISTER_MODE_MISSING | (wp ? UFFDIO_REGISTER_MODE_WP : 0);
    ok_ = ioctl(fd, UFFDIO_REGISTER, &reg) == 0;
    if (wp) ok_ = ok_ && dsm::uffd::write_protect(fd, reg.range.start, reg.range.len, true).ok();
    wp_ = wp;
    stop_.reset(static_cast<int>(eventfd(0, EFD_CLOEXEC)));
    thread_ = std::thread([this] { serve(); });
  }
  ~RawHandler() {
    uint64_t one = 1;
    (void)!write(stop_.get(), &one, sizeof one);
    thread_.join();
    munmap(base_, kFrames * kPage);
  }
  bool ok() const { return ok_; }
  char* base() const { return base_; }
  void punch_all() {
    fallocate(memfd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, kFrames * kPage);
  }

 private:
  void serve() {
    pollfd fds[2] = {{uffd_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    for (;;) {
      if (poll(fds, 2, -1) < 0) continue;
      if (fds[1].revents) return;
      uffd_msg msg;
      if (read(uffd_.get(), &msg, sizeof msg) != sizeof msg) continue;
      uffdio_copy copy{};
      copy.dst = msg.arg.pagefault.address & ~(kPage - 1);
      copy.src = reinterpret_cast<uint64_t>(zeros_.data());
      copy.len = kPage;
      copy.mode = wp_ ? UFFDIO_COPY_MODE_WP : 0;
      ioctl(uffd_.get(), UFFDIO_COPY, &copy);
    }
  }

  base::UniqueFd memfd_, uffd_, stop_;
  char* base_ = nullptr;
  bool ok_ = false;
  bool wp_ = false;
  alignas(4096) std::array<char, kPage> zeros_{};
  std::thread thread_;
};

void RawUffdCopy(benchmark::State& state) {
  RawHandler raw(state.range(0) != 0);
  if (!raw.ok()) {
    state.SkipWithError("UFFDIO_REGISTER failed (needs root or vm.unprivileged_userfaultfd)");
    return;
  }
  uint64_t next = 0;
  for (auto _ : state) {
    if (next == kFrames) {
      state.PauseTiming();
      raw.punch_all();
      next = 0;
      state.ResumeTiming();
    }
    char c = *static_cast<volatile char*>(raw.base() + next++ * kPage);  // a read fault
    benchmark::DoNotOptimize(c);
  }
}

void EngineZeroFill(benchmark::State& state) {
  dsm::ZeroFillProvider provider;
  dsm::FaultEngineOptions o;
  o.frames = kFrames;
  o.read_ahead_max = 0;  // one fault per page, as in the raw case
  o.handler_threads = static_cast<int>(state.range(0));
  auto engine = dsm::FaultEngine::Create(o, &provider);
  if (!engine.ok()) {
    state.SkipWithError(engine.error().message().c_str());
    return;
  }
  std::byte* base = (*engine)->base();
  uint64_t next = 0;
  for (auto _ : state) {
    if (next == kFrames) {
      state.PauseTiming();
      for (uint64_t f = 0; f < kFrames; ++f) (void)(*engine)->invalidate(f);
      next = 0;
      state.ResumeTiming();
    }
    char c = *reinterpret_cast<volatile char*>(base + next++ * kPage);  // a read fault
    benchmark::DoNotOptimize(c);
  }
  auto st = (*engine)->stats();
  state.counters["uffd_p50_ns"] = static_cast<double>(st.uffd_ns.quantile_ns(0.5));
  state.counters["engine_p50_ns"] = static_cast<double>(st.engine_ns.quantile_ns(0.5));
}

// Short repetitions and their median: these VMs are shared and noisy, and a
// median of means shrugs off a run that lost its core for a while.
BENCHMARK(RawUffdCopy)
    ->Arg(0)
    ->Arg(1)
    ->UseRealTime()
    ->MinTime(0.2)
    ->Repetitions(5)
    ->DisplayAggregatesOnly();
BENCHMARK(EngineZeroFill)
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->MinTime(0.2)
    ->Repetitions(5)
    ->DisplayAggregatesOnly();

// Remembers each benchmark's real time per iteration (the median over
// repetitions when there are several) to print the ratio.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      const std::string name = r.run_name.str();
      if (r.run_type == Run::RT_Aggregate && r.aggregate_name == "median") {
        median_[name] = r.GetAdjustedRealTime();
        last_.emplace(name, r.GetAdjustedRealTime());  // with aggregates only displayed
      } else if (r.run_type == Run::RT_Iteration && r.iterations > 0) {
        last_[name] = r.GetAdjustedRealTime();
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  void print_ratios() const {
    double raw = 0;
    for (const auto& [name, ns] : last_) {
      if (name.rfind("RawUffdCopy/0/", 0) == 0) raw = get(name);
    }
    if (raw <= 0) return;
    for (const auto& [name, ns] : last_) {
      if (name.rfind("EngineZeroFill", 0) == 0) {
        std::printf("ratio %s / RawUffdCopy/0 = %.2f  (%.1f us / %.1f us)\n", name.c_str(),
                    get(name) / raw, get(name) / 1000, raw / 1000);
      }
    }
  }

 private:
  double get(const std::string& name) const {
    if (auto it = median_.find(name); it != median_.end()) return it->second;
    auto it = last_.find(name);
    return it == last_.end() ? 0 : it->second;
  }
  std::map<std::string, double> median_, last_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_ratios();
  benchmark::Shutdown();
  return 0;
}
