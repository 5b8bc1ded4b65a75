// `pangaea bench fault`: see fault_bench.h. Benchmarks measure; nothing here
// asserts.

#include "dsm/region/fault_bench.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <span>
#include <thread>

#include <fmt/format.h>

#include "base/bytes.h"
#include "base/load_average.h"
#include "base/scope_guard.h"
#include "base/unique_fd.h"
#include "dsm/fault/fault_engine.h"
#include "dsm/fault/install_sink.h"
#include "dsm/fault/uffd.h"
#include "dsm/protocol/protocol.h"
#include "dsm/region/region.h"
#include "rpc/bare_end.h"
#include "rpc/bench_link.h"
#include "rpc/fabric_transport.h"
#include "rpc/wire.h"

namespace dsm {

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kPage = base::kPageSize;

double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

Latency summarize(std::vector<double> samples) {
  Latency l;
  l.count = samples.size();
  if (samples.empty()) return l;
  l.samples_us = samples;
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) {
    return samples[std::min(samples.size() - 1, static_cast<size_t>(q * samples.size()))];
  };
  l.p50_us = at(0.5);
  l.p99_us = at(0.99);
  l.p999_us = at(0.999);
  l.mean_us = std::accumulate(samples.begin(), samples.end(), 0.0) / samples.size();
  return l;
}

// (a) A local fault on a memfd mapping, resolved by a handler thread with
// UFFDIO_COPY: the mechanism under every DSM fault, without DSM or network.
base::StatusOr<Latency> local_uffd_faults(uint64_t n) {
  base::UniqueFd memfd(::memfd_create("bench-uffd", MFD_CLOEXEC));
  if (!memfd.valid() || ::ftruncate(memfd.get(), static_cast<off_t>(n * kPage)) != 0) {
    return base::Error::from_errno("memfd");
  }
  void* m = ::mmap(nullptr, n * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, memfd.get(), 0);
  if (m == MAP_FAILED) return base::Error::from_errno("mmap");
  auto* base = static_cast<volatile std::byte*>(m);
  auto unmap = [&] { ::munmap(m, n * kPage); };
  auto uffd = uffd::open(uffd::kShmemFeatures);
  if (!uffd.ok()) {
    unmap();
    return uffd.error();
  }
  const uint64_t start = reinterpret_cast<uint64_t>(m);
  if (auto st = uffd::register_range(uffd->get(), start, n * kPage); !st.ok()) {
    unmap();
    return st.error();
  }
  base::UniqueFd stop(::eventfd(0, EFD_CLOEXEC));
  std::thread handler([&] {
    alignas(4096) static std::byte page[kPage];
    pollfd fds[2] = {{uffd->get(), POLLIN, 0}, {stop.get(), POLLIN, 0}};
    for (;;) {
      if (::poll(fds, 2, -1) < 0) continue;
      if (fds[1].revents) return;
      uffd_msg msg;
      if (::read(uffd->get(), &msg, sizeof msg) != sizeof msg) continue;
      if (msg.event != UFFD_EVENT_PAGEFAULT) continue;
      (void)uffd::copy(uffd->get(), msg.arg.pagefault.address & ~(kPage - 1), page, kPage, false);
    }
  });
  std::vector<double> samples;
  samples.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    (void)base[i * kPage];
    samples.push_back(micros(Clock::now() - t0));
  }
  uint64_t one = 1;
  (void)!::write(stop.get(), &one, sizeof one);
  handler.join();
  (void)uffd::unregister_range(uffd->get(), start, n * kPage);
  unmap();
  return summarize(std::move(samples));
}

// Node 0's region: node 1 homes every frame ("range" with node 0 giving
// nothing), so every fault on node 0 goes over the fabric. Node 1's region
// (the same id) is made first.
base::StatusOr<std::unique_ptr<Region>> make_region(rpc::BenchLink& link, rpc::Transport& transport,
                                                    const FaultBenchOptions& o, uint64_t frames,
                                                    uint32_t id, uint32_t read_ahead,
                                                    uint64_t budget) {
  const auto names = protocol::protocol_names();
  const size_t protocol =
      static_cast<size_t>(std::find(names.begin(), names.end(), o.protocol) - names.begin());
  if (protocol == names.size()) return base::Error("unknown protocol " + o.protocol, EINVAL);
  // Node 1 drops its region and makes one of `frames`, homing every frame,
  // its home copies filled.
  TRY(link.command({rpc::BenchCommand::kRegion, 0, frames, id | (uint64_t{protocol} << 32)},
                   std::chrono::minutes(5)));
  RegionConfig c;
  c.self = 0;
  c.node_count = 2;
  c.frames = frames;
  c.region_id = id;
  c.placement = "range";
  c.weights = {0, 1};
  c.protocol = o.protocol;
  c.read_ahead_max = read_ahead;
  c.budget_frames = budget;
  return Region::Create(c, transport);
}

// CPU time of this process (every thread, user + system), in seconds.
double process_cpu_s() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

template <class Touch>
Latency time_faults(const std::vector<uint64_t>& frames, Touch touch) {
  std::vector<double> samples;
  samples.reserve(frames.size());
  for (uint64_t f : frames) {
    auto t0 = Clock::now();
    touch(f);
    samples.push_back(micros(Clock::now() - t0));
  }
  return summarize(std::move(samples));
}

}  // namespace

base::StatusOr<FaultBenchReport> run_fault_bench(const FaultBenchOptions& o) {
  FaultBenchReport r;
  r.protocol = o.protocol;
  r.load_start = base::load_average();
  r.role_measure = o.role == FaultBenchRole::kMeasure;
  const uint64_t n = std::max<uint64_t>(o.faults, 16);

  // The machine is shared and its load changes within a second: each
  // figure is gathered in kRounds slices, alternating, so the ratios
  // compare figures taken under the same load.
  constexpr uint64_t kRounds = 10;
  const size_t bytes = std::max<size_t>(o.raw_reply_bytes, kPage);
  rpc::LocalBenchServer server;  // node 1's side here (--role both)
  if (o.role == FaultBenchRole::kBoth) {
    if (base::Status st =
            server.start([&o](const std::atomic<bool>* cancel, const std::function<void()>& ready) {
              return serve_fault_bench(o, cancel, ready);
            });
        !st.ok()) {
      if (st.error().code() != EADDRNOTAVAIL) return st.error();
      return base::Error(st.error().message() +
                             ": node 1's address is not on this host; run `pangaea bench fault "
                             "--role serve` on its host and `--role measure` here",
                         EADDRNOTAVAIL);
    }
  }
  auto bare = TRY(rpc::OwnedBareEnd::Create(o.provider, o.bare_a, o.bare_b, 0, bytes));
  rpc::BenchLink link(bare->end(), TRY(rpc::CommandSeal::Create(o.secret)));
  TRY(link.hello(o.server_wait));
  (void)TRY(link.round_trips(rpc::kCommandBytes, kPage, 100));  // connect, warm up
  std::vector<double> uffd_samples, rtt_samples, big_samples;
  auto append = [](std::vector<double>& to, const std::vector<double>& from) {
    to.insert(to.end(), from.begin(), from.end());
  };
  auto raw_round = [&]() -> base::Status {
    append(uffd_samples, TRY(local_uffd_faults(std::max<uint64_t>(n / kRounds, 1))).samples_us);
    append(rtt_samples,
           TRY(link.round_trips(rpc::kCommandBytes, kPage,
                                std::max(o.raw_iterations / static_cast<int>(kRounds), 1))));
    return {};
  };

  auto transport =
      TRY(rpc::FabricTransport::Create(o.provider, {"n0", "n1"}, {o.a, o.b}, 0, o.secret));
  r.provider = transport->provider_name();
  std::unique_ptr<Region> region;  // before `transport` goes
  // On an early return node 1's side is told to stop too (a local one is
  // cancelled in any case when `server` goes).
  base::ScopeGuard stop_on_error([&] {
    region.reset();
    (void)link.stop(std::chrono::seconds(2));
  });
  // Latency: no read-ahead, fresh frames for each pattern, warm-up frames last.
  constexpr uint64_t kWarm = 32;
  region = TRY(make_region(link, *transport, o, 4 * n + kWarm, 1, 0, 0));
  volatile std::byte* mem = region->data();
  for (uint64_t f = 4 * n; f < 4 * n + kWarm; ++f) (void)mem[f * kPage];  // handshake, caches
  std::vector<uint64_t> seq(n), rnd(n);
  std::iota(seq.begin(), seq.end(), 0);
  std::iota(rnd.begin(), rnd.end(), 0);
  std::shuffle(rnd.begin(), rnd.end(), std::mt19937_64(42));
  auto read = [&](uint64_t f) { (void)mem[f * kPage]; };
  auto write = [&](uint64_t f) { mem[f * kPage] = std::byte{1}; };
  auto shifted = [](std::vector<uint64_t> v, uint64_t by) {
    for (auto& f : v) f += by;
    return v;
  };
  std::vector<double> rr, rs, wr, ws;
  auto slice = [&](const std::vector<uint64_t>& v, uint64_t round) {
    const size_t from = v.size() * round / kRounds, to = v.size() * (round + 1) / kRounds;
    return std::vector<uint64_t>(v.begin() + from, v.begin() + to);
  };
  const auto seq_r = shifted(seq, n), rnd_w = shifted(rnd, 2 * n), seq_w = shifted(seq, 3 * n);
  for (uint64_t round = 0; round < kRounds; ++round) {
    TRY(raw_round());
    append(rr, time_faults(slice(rnd, round), read).samples_us);
    append(rs, time_faults(slice(seq_r, round), read).samples_us);
    append(wr, time_faults(slice(rnd_w, round), write).samples_us);
    append(ws, time_faults(slice(seq_w, round), write).samples_us);
  }
  r.read_random = summarize(std::move(rr));
  r.read_sequential = summarize(std::move(rs));
  r.write_random = summarize(std::move(wr));
  r.write_sequential = summarize(std::move(ws));
  r.local_uffd = summarize(std::move(uffd_samples));
  r.fabric_rtt = summarize(std::move(rtt_samples));
  r.region_stats_json = region->stats().to_json();
  region.reset();

  // Scan: read-ahead on; node 0 keeps at most scan_budget_bytes of it.
  const uint64_t frames = std::max<uint64_t>(o.scan_bytes / kPage, 64);
  const uint64_t budget_frames = o.scan_budget_bytes / kPage;
  const uint64_t budget = budget_frames != 0 && frames > budget_frames ? budget_frames : 0;
  r.scan_budget_frames = budget;
  region = TRY(make_region(link, *transport, o, frames, 2, o.scan_read_ahead, budget));
  r.scan_read_ahead = o.scan_read_ahead;
  mem = region->data();
  (void)mem[(frames - 1) * kPage];  // handshake outside the timed part
  // (c) right before and right after the scan, under the load it saw.
  append(big_samples, TRY(link.round_trips(rpc::kCommandBytes, bytes, 100)));
  const double cpu0 = process_cpu_s();
  const base::ThreadTimes threads0 = base::ThreadTimes::now();
  auto t0 = Clock::now();
  uint64_t sum = 0;
  for (uint64_t f = 0; f + 1 < frames; ++f) sum += static_cast<uint8_t>(mem[f * kPage]);
  const double us = micros(Clock::now() - t0);
  r.scan_cpu_s = process_cpu_s() - cpu0;
  r.scan_threads = base::ThreadTimes::now().since(threads0);
  uint64_t want = 0;
  for (uint64_t f = 0; f + 1 < frames; ++f) want += f & 0xff;
  if (sum != want) return base::Error("scan read other bytes than the home holds", EIO);
  r.read_ahead_hits = region->stats().engine.read_ahead_hits;
  r.scan_stats_json = region->stats().to_json();
  {
    const FaultStatsSnapshot e = region->engine().stats();
    r.scan_run_copies = e.run_copies;
    r.scan_run_copy_pages = e.run_copy_pages;
    r.scan_punches = e.punches;
    r.scan_evictions = e.evictions;
  }
  {
    // (d): (c) again, each reply installed as node 0 installs a fetched
    // run (runs of at most rpc::kMaxRunPages pages) into a cache at the
    // scan's budget, or with none into fresh holes. (c) and (d) alternate
    // in blocks, so that d/c compares figures taken under the same load.
    constexpr int kBlocks = 4, kBlockTrips = 50;
    const uint64_t run_pages = (bytes + kPage - 1) / kPage;
    region.reset();  // its cache goes before the sink fills
    auto sink = TRY(InstallSink::Create(budget != 0 ? budget : run_pages * kBlocks * kBlockTrips));
    if (budget != 0) TRY(sink->fill());
    auto install = [&](std::span<const std::byte> reply) -> base::Status {
      reply = reply.first(reply.size() / kPage * kPage);
      for (size_t at = 0; at < reply.size(); at += rpc::kMaxRunPages * kPage) {
        TRY(sink->install(
            reply.subspan(at, std::min(rpc::kMaxRunPages * kPage, reply.size() - at))));
      }
      return {};
    };
    std::vector<double> floor_samples;
    for (int block = 0; block < kBlocks; ++block) {
      append(big_samples, TRY(link.round_trips(rpc::kCommandBytes, bytes, kBlockTrips)));
      append(floor_samples, TRY(link.round_trips(rpc::kCommandBytes, bytes, kBlockTrips, install)));
    }
    const Latency floor = summarize(std::move(floor_samples));
    r.floor_mb_s = floor.p50_us > 0 ? static_cast<double>(bytes) / floor.p50_us : 0;
  }
  const Latency big = summarize(std::move(big_samples));
  r.raw_mb_s = big.p50_us > 0 ? static_cast<double>(bytes) / big.p50_us : 0;
  r.scan_bytes = (frames - 1) * kPage;
  r.scan_mb_s = us > 0 ? static_cast<double>(r.scan_bytes) / us : 0;

  const double raw = r.local_uffd.p50_us + r.fabric_rtt.p50_us;
  r.read_fault_p50_ratio = raw > 0 ? r.read_random.p50_us / raw : 0;
  r.scan_bandwidth_ratio = r.raw_mb_s > 0 ? r.scan_mb_s / r.raw_mb_s : 0;
  r.floor_ratio = r.raw_mb_s > 0 ? r.floor_mb_s / r.raw_mb_s : 0;
  r.scan_to_floor_ratio = r.floor_mb_s > 0 ? r.scan_mb_s / r.floor_mb_s : 0;
  r.load_end = base::load_average();
  stop_on_error.dismiss();
  TRY(link.stop(std::chrono::seconds(30)));
  if (base::Status served = server.join(); !served.ok()) {
    return base::Error("node 1's side: " + served.error().message());
  }
  return r;
}

std::string format_fault_table(const FaultBenchReport& r) {
  std::string s = fmt::format(
      "pangaea bench fault: provider {}, protocol {}; load average {} at the start, {} "
      "at the end\n",
      r.provider, r.protocol, r.load_start, r.load_end);
  s += fmt::format("{:<34} {:>8} {:>10} {:>10} {:>10}\n", "4 KiB fault (us)", "count", "p50", "p99",
                   "p999");
  auto row = [&](const char* name, const Latency& l) {
    s += fmt::format("{:<34} {:>8} {:>10.1f} {:>10.1f} {:>10.1f}\n", name, l.count, l.p50_us,
                     l.p99_us, l.p999_us);
  };
  row("remote read, random", r.read_random);
  row("remote read, sequential", r.read_sequential);
  row("remote write, random", r.write_random);
  row("remote write, sequential", r.write_sequential);
  row("(a) local uffd fault, UFFDIO_COPY", r.local_uffd);
  row("(b) bare fabric 64 B -> 4 KiB", r.fabric_rtt);
  s += fmt::format(
      "scan of {} MiB with read-ahead (window up to {} pages): {:.0f} MB/s ({} read-ahead hits)\n",
      r.scan_bytes >> 20, r.scan_read_ahead, r.scan_mb_s, r.read_ahead_hits);
  s += fmt::format("(c) bare fabric bandwidth: {:.0f} MB/s\n", r.raw_mb_s);
  s += fmt::format(
      "(d) (c) with each reply installed and the cache kept at budget: {:.0f} MB/s "
      "(d/c {:.2f}, scan/d {:.2f})\n",
      r.floor_mb_s, r.floor_ratio, r.scan_to_floor_ratio);
  s += fmt::format("scan CPU: {:.2f} s;", r.scan_cpu_s);
  for (const auto& [name, t] : r.scan_threads) {
    if (t.on_cpu_s >= 0.01)
      s += fmt::format(" {} {:.2f} s (+{:.2f} waiting)", name, t.on_cpu_s, t.waiting_s);
  }
  s += "\n";
  s += fmt::format("read_fault_p50_ratio = {:.2f} (target <= 1.2)\n", r.read_fault_p50_ratio);
  s += fmt::format("scan_bandwidth_ratio = {:.2f} (target >= 0.5)\n", r.scan_bandwidth_ratio);
  return s;
}

std::string format_fault_json(const FaultBenchReport& r) {
  auto lat = [](const Latency& l) {
    return fmt::format(R"({{"count":{},"p50_us":{:.2f},"p99_us":{:.2f},"p999_us":{:.2f},)"
                       R"("mean_us":{:.2f}}})",
                       l.count, l.p50_us, l.p99_us, l.p999_us, l.mean_us);
  };
  std::string threads;
  for (const auto& [name, t] : r.scan_threads) {
    threads += fmt::format(R"({}"{}":{{"cpu_s":{:.3f},"wait_s":{:.3f}}})",
                           threads.empty() ? "" : ",", name, t.on_cpu_s, t.waiting_s);
  }
  return fmt::format(
      R"({{"provider":"{}","protocol":"{}","role":"{}","load_average_start":"{}",)"
      R"("load_average_end":"{}","read_random":{},"read_sequential":{},)"
      R"("write_random":{},"write_sequential":{},"local_uffd_fault":{},"fabric_rtt_64_4096":{},)"
      R"("scan_bytes":{},"scan_mb_s":{:.1f},"raw_fabric_mb_s":{:.1f},"read_ahead_hits":{},)"
      R"("read_fault_p50_ratio":{:.3f},"scan_bandwidth_ratio":{:.3f},"scan_read_ahead":{},)"
      R"("scan_engine":{{"run_copies":{},"run_copy_pages":{},"punches":{},"evictions":{}}},)"
      R"("install_floor_mb_s":{:.1f},"install_floor_ratio":{:.3f},"scan_to_floor_ratio":{:.3f},)"
      R"("scan_budget_frames":{},"scan_cpu_s":{:.3f},"scan_threads":{{{}}},)"
      R"("region_stats":{},"scan_region_stats":{}}})"
      "\n",
      r.provider, r.protocol, r.role_measure ? "measure" : "both", r.load_start, r.load_end,
      lat(r.read_random), lat(r.read_sequential), lat(r.write_random), lat(r.write_sequential),
      lat(r.local_uffd), lat(r.fabric_rtt), r.scan_bytes, r.scan_mb_s, r.raw_mb_s,
      r.read_ahead_hits, r.read_fault_p50_ratio, r.scan_bandwidth_ratio, r.scan_read_ahead,
      r.scan_run_copies, r.scan_run_copy_pages, r.scan_punches, r.scan_evictions, r.floor_mb_s,
      r.floor_ratio, r.scan_to_floor_ratio, r.scan_budget_frames, r.scan_cpu_s, threads,
      r.region_stats_json.empty() ? "null" : r.region_stats_json,
      r.scan_stats_json.empty() ? "null" : r.scan_stats_json);
}

base::Status plot_fault_histogram(const FaultBenchReport& r, const std::string& svg_path) {
  char data_path[] = "/tmp/pangaea-fault-XXXXXX";
  int fd = ::mkstemp(data_path);
  if (fd < 0) return base::Error::from_errno("mkstemp");
  FILE* data = ::fdopen(fd, "w");
  const Latency* series[] = {&r.read_random, &r.read_sequential, &r.write_random,
                             &r.write_sequential};
  double top = 0;
  for (const Latency* l : series) {
    for (double v : l->samples_us) std::fprintf(data, "%.3f\n", v);
    std::fprintf(data, "\n\n");
    top = std::max(top, l->p99_us);
  }
  std::fclose(data);
  const double raw = r.local_uffd.p50_us + r.fabric_rtt.p50_us;
  // Under load the p99 can lie at milliseconds: the body of the histogram,
  // around (a)+(b), would then fall into two bins. Show up to 4x (a)+(b).
  if (raw > 0) top = std::min(top, 4 * raw / 1.3);
  const double bin = std::max(0.5, top / 80);
  std::string script = fmt::format(
      "set terminal svg size 900,500 dynamic noenhanced\n"
      "set output '{}'\n"
      "set title 'Remote 4 KiB fault latency ({}, {})'\n"
      "set xlabel 'latency (us)'\nset ylabel 'faults'\n"
      "set xrange [0:{:.1f}]\n"
      "bin(x)={:.3f}*floor(x/{:.3f})\n"
      "set arrow from {:.2f}, graph 0 to {:.2f}, graph 1 nohead dt 2\n"
      "set label '(a)+(b) = {:.1f} us' at {:.2f}, graph 0.95 offset 1,0\n"
      "plot '{}' index 0 using (bin($1)):(1.0) smooth frequency with steps title 'read random', "
      "'' index 1 using (bin($1)):(1.0) smooth frequency with steps title 'read sequential', "
      "'' index 2 using (bin($1)):(1.0) smooth frequency with steps title 'write random', "
      "'' index 3 using (bin($1)):(1.0) smooth frequency with steps title 'write sequential'\n",
      svg_path, r.provider, r.protocol, top * 1.3, bin, bin, raw, raw, raw, raw, data_path);
  FILE* gp = ::popen("gnuplot 2>&1", "w");
  if (gp == nullptr) {
    ::unlink(data_path);
    return base::Error::from_errno("popen(gnuplot)");
  }
  std::fputs(script.c_str(), gp);
  int rc = ::pclose(gp);
  ::unlink(data_path);
  if (rc != 0) return base::Error("gnuplot failed (is it installed?)", EIO);
  return {};
}

}  // namespace dsm
