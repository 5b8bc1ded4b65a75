#pragma once
// `pangaea bench rtt`: round-trip latency and bandwidth of our request/response
// path (FabricTransport: Cap'n Proto header, session tag, correlation,
// progress thread) against a bare libfabric send/recv ping-pong over the same
// provider, in the same run. The answering end runs in a thread of this
// process (each end on its own endpoint bound to its own address) or, with
// --role serve/measure, on another host (rpc/bench_link.h).
// The two alternate in ten rounds per size, so both see the same load.
//
// Sizes: below 2 KiB the payload travels inside the header (Echo.data); a
// multiple of 4 KiB travels as that many page-carrying requests in flight at
// once (how the DSM moves a run of pages); the bare ping-pong sends the same
// number of bytes as one message each way.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "base/result.h"
#include "rpc/fabric_endpoint.h"

namespace bench {

enum class RttRole { kBoth, kMeasure, kServe };

struct RttOptions {
  // kBoth: the answering end runs in a thread of this process; kServe: this
  // process is the answering end only (serve_rtt), for a kMeasure elsewhere.
  RttRole role = RttRole::kBoth;
  // Keys both transports and seals the commands to the answering end
  // (rpc/bench_command.h); empty: a fresh random one (kBoth only).
  std::string secret;
  // kMeasure: how long to wait for the answering end at the start.
  std::chrono::milliseconds server_wait = std::chrono::seconds(30);
  // kServe: how long without a command before the answering end gives up.
  std::chrono::milliseconds serve_idle = std::chrono::minutes(5);
  std::string provider = "tcp";
  // Ours uses a and b; the bare ping-pong bare_a and bare_b (distinct
  // ports, so the two never share a connection).
  rpc::FabricAddress a, b, bare_a, bare_b;
  std::vector<size_t> sizes{64, 4096, 65536};
  int iterations = 1000;
  int warmup = 100;
};

struct RttStats {
  double p50_us = 0;
  double p99_us = 0;
  double mean_us = 0;
  double bandwidth_mb_s = 0;  // payload bytes both ways / mean round trip (MB = 1e6 B)
};

struct RttRow {
  size_t size = 0;
  RttStats ours;
  RttStats bare;
  double p50_ratio = 0;  // ours.p50 / bare.p50
};

struct RttReport {
  std::string provider;  // as libfabric names it, e.g. "tcp;ofi_rxm"
  std::string from, to;  // host:port of our two ends
  int iterations = 0;
  std::vector<RttRow> rows;
};

// Largest size carried inline in the header.
inline constexpr size_t kMaxInlineSize = 2048;

// Checks every size: 1..kMaxInlineSize, or a multiple of 4096 up to 1 MiB.
base::Status check_sizes(const std::vector<size_t>& sizes);

// The requesting end (and with kBoth the answering one in a thread).
base::StatusOr<RttReport> run_rtt(const RttOptions& options);
// The answering end: our transport's echo responder and the bare ping-pong's
// echo, until the requesting end says stop. `ready` runs once it listens.
base::Status serve_rtt(const RttOptions& options, const std::atomic<bool>* cancel,
                       const std::function<void()>& ready);

std::string format_table(const RttReport& report);
std::string format_json(const RttReport& report);

}  // namespace bench
