#pragma once
// The core of `pangaea bench fault`: remote 4 KiB fault latency and remote
// scan bandwidth of a dsm::Region over libfabric, each against the raw
// mechanism measured in the same run:
//  (a) a local userfaultfd fault resolved by UFFDIO_COPY (no DSM, no network),
//  (b) a bare libfabric round trip of a 64 B request and a 4 KiB reply,
//  (c) bare libfabric bandwidth: 64 B requests answered by large replies,
//  (d) (c) with each reply installed as node 0 installs a fetched run (one
//      UFFDIO_COPY per run into holes of a registered memfd mapping) and,
//      with a budget, the cache kept at it by punching
//      (dsm/fault/install_sink.h): the kernel work any memfd-backed scan
//      pays per page on top of the network, done in line with the
//      transfer, with no DSM. A scan that overlaps installing with the
//      transfer could in principle pass it (docs/PERFORMANCE.md measures
//      that on two vCPUs). Not a target: it says how much of the gap
//      between the scan and (c) is the install mechanism itself. (c) and
//      (d) alternate after the scan, (c) also runs right before it.
// (a), (b), (c) and the remote faults are measured in rounds, one slice of
// each per round, so that all of them see the same machine load.
// Two Regions (node 0 faults, node 1 homes every frame) and a pair of bare
// endpoints, each bound to its own address. Node 1's side (its Region and
// the echo end of the ping-pong) runs in a thread of this process
// (FaultBenchRole::kBoth) or alone on another host (kServe there, kMeasure
// here), driven by commands sealed with the cluster secret
// (rpc/bench_command.h, rpc/bench_link.h).
//
// Ratios (targets in issue 3): read_fault_p50_ratio = remote read fault p50
// (random order, no read-ahead) / (a.p50 + b.p50), target <= 1.2;
// scan_bandwidth_ratio = sequential scan with read-ahead / (c), target >= 0.5.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/thread_times.h"
#include "rpc/fabric_endpoint.h"

namespace dsm {

enum class FaultBenchRole { kBoth, kMeasure, kServe };

// Largest region node 1's side makes on command (64 GiB).
inline constexpr uint64_t kMaxBenchFrames = 16ull << 20;

struct FaultBenchOptions {
  FaultBenchRole role = FaultBenchRole::kBoth;
  std::string provider = "tcp";
  // Seals the commands to node 1's side and keys the regions' transports.
  std::string secret = "pangaea-bench-fault";
  // kMeasure: how long to wait for node 1's side to answer at the start.
  std::chrono::milliseconds server_wait = std::chrono::seconds(30);
  // kServe: how long without a command before node 1's side gives up.
  std::chrono::milliseconds serve_idle = std::chrono::minutes(5);
  // The regions' transports use a and b, the bare ping-pong bare_a and bare_b.
  rpc::FabricAddress a{"127.0.0.1", 47100}, b{"127.0.0.1", 47101};
  rpc::FabricAddress bare_a{"127.0.0.1", 47102}, bare_b{"127.0.0.1", 47103};
  std::string protocol = "msi-home";
  uint64_t faults = 2000;             // measured faults per pattern
  uint64_t scan_bytes = 64ull << 20;  // remote memory scanned (1 GiB: --scan-gib 1)
  // Largest read-ahead window of the scan, in frames (RegionConfig::read_ahead_max).
  uint32_t scan_read_ahead = 256;
  // Node 0's cache budget during the scan, bytes (0: none). The default
  // keeps a quarter of a 1 GiB scan, so the evictor works throughout.
  uint64_t scan_budget_bytes = 256ull << 20;
  uint64_t raw_reply_bytes = 256 << 10;
  int raw_iterations = 2000;
};

struct Latency {
  uint64_t count = 0;
  double p50_us = 0, p99_us = 0, p999_us = 0, mean_us = 0;
  std::vector<double> samples_us;  // for histograms
};

struct FaultBenchReport {
  std::string provider;  // as libfabric names it
  std::string protocol;
  // /proc/loadavg's three figures at the start and at the end: how busy
  // the machine was (its other load moves every figure here).
  std::string load_start, load_end;
  Latency read_random, read_sequential, write_random, write_sequential;
  Latency local_uffd;  // (a)
  Latency fabric_rtt;  // (b)
  uint64_t scan_bytes = 0;
  double scan_mb_s = 0;   // MB = 1e6 bytes
  double raw_mb_s = 0;    // (c)
  double floor_mb_s = 0;  // (d)
  uint64_t read_ahead_hits = 0;
  uint32_t scan_read_ahead = 0;
  uint64_t scan_budget_frames = 0;  // 0: none
  std::string scan_stats_json;      // node 0's region after the scan
  // Node 0's engine during the scan: UFFDIO_COPYs of page runs and the pages
  // they installed, evictor punches (ranges) and evictions.
  // Node 1's side ran elsewhere (kMeasure): the CPU figures below are node 0's only.
  bool role_measure = false;
  // CPU time of the whole process (both nodes) during the scan, seconds.
  double scan_cpu_s = 0;
  // The same by thread name (pg-fabric0 is node 0's progress thread, ...).
  std::map<std::string, base::ThreadTime> scan_threads;
  uint64_t scan_run_copies = 0, scan_run_copy_pages = 0, scan_punches = 0, scan_evictions = 0;
  double read_fault_p50_ratio = 0;
  double scan_bandwidth_ratio = 0;
  double floor_ratio = 0;          // (d) / (c)
  double scan_to_floor_ratio = 0;  // scan / (d)
  std::string region_stats_json;   // node 0's region after the latency runs
};

// Node 0's side: measures (and, with kBoth, runs node 1's side in a thread).
base::StatusOr<FaultBenchReport> run_fault_bench(const FaultBenchOptions& options);
// Node 1's side (fault_bench_serve.cc): serves commands until the measuring
// side says stop. `ready` runs once its endpoints are bound; `cancel` (may
// be null) ends it early.
base::Status serve_fault_bench(const FaultBenchOptions& options, const std::atomic<bool>* cancel,
                               const std::function<void()>& ready);

std::string format_fault_table(const FaultBenchReport& report);
std::string format_fault_json(const FaultBenchReport& report);
// Histogram of the four remote fault latencies and (a)+(b), as SVG by
// gnuplot. Errors: gnuplot missing or failing.
base::Status plot_fault_histogram(const FaultBenchReport& report, const std::string& svg_path);

}  // namespace dsm
