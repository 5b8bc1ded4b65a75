#pragma once
// Fault-engine statistics: counters and latency histograms, updated lock-free
// from any thread, read as a plain snapshot the control plane can serve.
//
// Latency of one request (first fault event read -> page installed and
// waiters woken) is split into:
//   uffd     time inside userfaultfd calls (the event read's share, COPY,
//            WRITEPROTECT, WAKE),
//   network  the provider's time (fetch() -> done), minus what it reports as
//   protocol time spent in the coherence state machine,
//   engine   the rest: the engine's own bookkeeping and queueing.
// The time a thread spends in the kernel before its event is read is not
// visible to user space and is in none of them.

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace dsm {

// Log2 buckets of nanoseconds: bucket i counts values in [2^i, 2^(i+1)).
struct LatencyHistogram {
  static constexpr int kBuckets = 40;
  std::array<uint64_t, kBuckets> counts{};
  uint64_t total() const;
  // Upper bound of the bucket holding quantile q (0..1), in ns; 0 when empty.
  uint64_t quantile_ns(double q) const;
};

struct FaultStatsSnapshot {
  uint64_t read_misses = 0;
  uint64_t write_misses = 0;
  uint64_t write_upgrades = 0;
  uint64_t coalesced = 0;      // faults that joined a request already pending
  uint64_t already_valid = 0;  // faults on a frame valid here (lazy re-protect, races)
  uint64_t fetch_errors = 0;
  uint64_t read_ahead_issued = 0;
  uint64_t read_ahead_hits = 0;
  uint64_t evictions = 0;
  uint64_t write_backs = 0;
  uint64_t invalidations = 0;
  uint64_t downgrades = 0;
  uint64_t installs = 0;        // install() calls from the protocol
  uint64_t waits_for_room = 0;  // misses that waited for the evictor
  uint64_t ioctl_errors = 0;    // write-protect calls that failed on a live mapping
  uint64_t event_reads = 0;     // read()s of a uffd that returned events
  uint64_t events = 0;          // fault events read (events / event_reads = batch)
  uint64_t run_copies = 0;      // UFFDIO_COPYs that installed a run of pages
  uint64_t run_copy_pages = 0;  // pages they installed
  uint64_t punches = 0;         // fallocate(PUNCH_HOLE) calls of the evictor (ranges)
  uint64_t resident = 0;
  uint64_t resident_max = 0;
  LatencyHistogram uffd_ns, network_ns, protocol_ns, engine_ns, total_ns;

  std::string to_string() const;  // a few human-readable lines
};

class FaultStats {
 public:
  class Histogram {
   public:
    void record(uint64_t ns);
    LatencyHistogram snapshot() const;

   private:
    std::array<std::atomic<uint64_t>, LatencyHistogram::kBuckets> counts_{};
  };

  static void bump(std::atomic<uint64_t>& c, uint64_t n = 1) {
    c.fetch_add(n, std::memory_order_relaxed);
  }

  std::atomic<uint64_t> read_misses{0}, write_misses{0}, write_upgrades{0}, coalesced{0},
      already_valid{0}, fetch_errors{0}, read_ahead_issued{0}, read_ahead_hits{0}, evictions{0},
      write_backs{0}, invalidations{0}, downgrades{0}, installs{0}, waits_for_room{0},
      event_reads{0}, events{0}, ioctl_errors{0}, run_copies{0}, run_copy_pages{0}, punches{0};
  Histogram uffd_ns, network_ns, protocol_ns, engine_ns, total_ns;

  FaultStatsSnapshot snapshot() const;
};

}  // namespace dsm
