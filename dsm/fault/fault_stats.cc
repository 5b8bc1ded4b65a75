#include "dsm/fault/fault_stats.h"

#include <bit>

#include <fmt/format.h>

namespace dsm {

uint64_t LatencyHistogram::total() const {
  uint64_t n = 0;
  for (uint64_t c : counts) n += c;
  return n;
}

uint64_t LatencyHistogram::quantile_ns(double q) const {
  uint64_t n = total();
  if (n == 0) return 0;
  uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(n - 1)) + 1;
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts[i];
    if (seen >= rank) return uint64_t{1} << (i + 1);
  }
  return uint64_t{1} << kBuckets;
}

void FaultStats::Histogram::record(uint64_t ns) {
  int bucket = ns == 0 ? 0 : 63 - std::countl_zero(ns);
  if (bucket >= LatencyHistogram::kBuckets) bucket = LatencyHistogram::kBuckets - 1;
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
}

LatencyHistogram FaultStats::Histogram::snapshot() const {
  LatencyHistogram h;
  for (int i = 0; i < LatencyHistogram::kBuckets; ++i) {
    h.counts[i] = counts_[i].load(std::memory_order_relaxed);
  }
  return h;
}

FaultStatsSnapshot FaultStats::snapshot() const {
  FaultStatsSnapshot s;
  auto get = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  s.read_misses = get(read_misses);
  s.write_misses = get(write_misses);
  s.write_upgrades = get(write_upgrades);
  s.coalesced = get(coalesced);
  s.already_valid = get(already_valid);
  s.fetch_errors = get(fetch_errors);
  s.read_ahead_issued = get(read_ahead_issued);
  s.read_ahead_hits = get(read_ahead_hits);
  s.evictions = get(evictions);
  s.write_backs = get(write_backs);
  s.invalidations = get(invalidations);
  s.downgrades = get(downgrades);
  s.installs = get(installs);
  s.waits_for_room = get(waits_for_room);
  s.event_reads = get(event_reads);
  s.events = get(events);
  s.ioctl_errors = get(ioctl_errors);
  s.run_copies = get(run_copies);
  s.run_copy_pages = get(run_copy_pages);
  s.punches = get(punches);
  s.uffd_ns = uffd_ns.snapshot();
  s.network_ns = network_ns.snapshot();
  s.protocol_ns = protocol_ns.snapshot();
  s.engine_ns = engine_ns.snapshot();
  s.total_ns = total_ns.snapshot();
  return s;
}

std::string FaultStatsSnapshot::to_string() const {
  auto p = [](const LatencyHistogram& h) {
    return fmt::format("p50<={}ns p99<={}ns n={}", h.quantile_ns(0.5), h.quantile_ns(0.99),
                       h.total());
  };
  return fmt::format(
      "faults: read_miss={} write_miss={} upgrade={} coalesced={} already_valid={} errors={}\n"
      "read-ahead: issued={} hits={}  evictions={} write_backs={} invalidations={} "
      "downgrades={} installs={} waits_for_room={}  resident={} (max {})  events={} in {} "
      "reads  ioctl_errors={}  run_copies={} ({} pages) punches={}\n"
      "total: {}\nuffd: {}\nnetwork: {}\nprotocol: {}\nengine: {}",
      read_misses, write_misses, write_upgrades, coalesced, already_valid, fetch_errors,
      read_ahead_issued, read_ahead_hits, evictions, write_backs, invalidations, downgrades,
      installs, waits_for_room, resident, resident_max, events, event_reads, ioctl_errors,
      run_copies, run_copy_pages, punches, p(total_ns), p(uffd_ns), p(network_ns), p(protocol_ns),
      p(engine_ns));
}

}  // namespace dsm
