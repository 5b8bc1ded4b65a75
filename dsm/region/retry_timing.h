#pragma once
// How long the driver waits before a coherence request is retried: an
// adaptive retransmission timeout in the manner of TCP's (RFC 6298), per
// peer, with exponential backoff per request.
//
//  - RttEstimator: one per peer. Samples are request -> answer times of
//    fetches that were never re-sent (Karn's rule: the answer to a re-sent
//    request may answer either copy). SRTT and RTTVAR are the usual EWMAs
//    (gains 1/8 and 1/4); rto() = SRTT + max(granule, 4 * RTTVAR), clamped
//    to [floor, ceiling]. Before the first sample rto() is the floor.
//    The floor is RegionConfig::retry_interval: on an idle machine answers
//    take ~0.1 ms and the timeout stays the configured one, so a lost
//    message is retried as promptly as before; answers that queue (a loaded
//    CPU, a deep read-ahead window) raise the samples, and the timeout with
//    them.
//  - backoff(): a request whose timer fired and that is still unanswered
//    waits twice as long each time (shift 0, 1, 2, ... up to kMaxShift),
//    capped at the ceiling; the driver resets the shift when the request is
//    answered.
//
// Plain values, no clock and no locks: the driver (region_driver.h) owns the
// time and holds its mutex around every call.

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace dsm {

class RttEstimator {
 public:
  using Duration = std::chrono::nanoseconds;

  RttEstimator(Duration floor, Duration ceiling)
      : floor_(floor), ceiling_(std::max(floor, ceiling)) {}

  void sample(Duration rtt) {
    if (rtt < Duration::zero()) rtt = Duration::zero();
    if (samples_ == 0) {
      srtt_ = rtt;
      rttvar_ = rtt / 2;
    } else {
      const Duration err = rtt > srtt_ ? rtt - srtt_ : srtt_ - rtt;
      rttvar_ = rttvar_ - rttvar_ / 4 + err / 4;
      srtt_ = srtt_ - srtt_ / 8 + rtt / 8;
    }
    ++samples_;
  }

  Duration rto() const {
    if (samples_ == 0) return floor_;
    const Duration granule = floor_ / 4;
    const Duration r = srtt_ + std::max(granule, 4 * rttvar_);
    return std::clamp(r, floor_, ceiling_);
  }

  Duration srtt() const { return srtt_; }
  Duration rttvar() const { return rttvar_; }
  uint64_t samples() const { return samples_; }

 private:
  Duration floor_, ceiling_;
  Duration srtt_{0}, rttvar_{0};
  uint64_t samples_ = 0;
};

// Doublings of a request's timeout at most (64x).
inline constexpr uint32_t kMaxBackoffShift = 6;
// A fetch that looks queued, not lost, waits at most this many doubled
// timeouts in a row before it is re-sent all the same (region_driver.h).
inline constexpr uint32_t kMaxDeferShift = 3;

// What the driver knows of a fetch whose timer is due, and of its peer.
struct DueFetch {
  using Time = std::chrono::steady_clock::time_point;
  Time sent;   // its request left
  Time heard;  // the last message from its peer arrived
  Time now;
  uint32_t fired = 0;   // timer fires (deferred or not) since it was answered last
  uint64_t seq = 0;     // its place among the fetches outstanding to the peer
  uint64_t oldest = 0;  // the oldest seq outstanding to the peer (<= seq)
};

// Whether the fetch is queued at its peer rather than lost: the peer is
// answering right now (a message since the request left, and within
// `recent`), and an older fetch to it still waits its turn (answers come
// back in about the order asked). At most kMaxDeferShift times in a row.
inline bool looks_queued(const DueFetch& f, std::chrono::nanoseconds recent) {
  return f.fired < kMaxDeferShift && f.heard > f.sent && f.now - f.heard < recent &&
         f.oldest < f.seq;
}

// The timeout of a request whose timer fired `shift` times without an
// answer: rto * 2^shift, at most `ceiling` (and at least rto when rto is
// above the ceiling).
inline std::chrono::nanoseconds backoff(std::chrono::nanoseconds rto, uint32_t shift,
                                        std::chrono::nanoseconds ceiling) {
  shift = std::min(shift, kMaxBackoffShift);
  if (rto >= ceiling) return rto;
  if (rto.count() > (ceiling.count() >> shift)) return ceiling;
  return rto * (int64_t{1} << shift);
}

}  // namespace dsm
