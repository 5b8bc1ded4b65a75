#pragma once
// Statistics of one DSM region on one node: the coherence protocol's
// counters, the fault engine's counters and latency histograms (split into
// userfaultfd, network and protocol time, dsm/fault/fault_stats.h), and the
// driver's messages and bytes by type. One plain struct, so the control
// plane can serve it (to_json) and `pangaea stats` print it (to_text).

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "dsm/fault/fault_stats.h"
#include "dsm/protocol/protocol.h"

namespace dsm {

// What the driver between protocol, engine and transport counts.
struct DriverCounters {
  static constexpr size_t kTypes = protocol::kMaxMsgType + 1;
  std::array<uint64_t, kTypes> messages_sent{};  // by MsgType
  std::array<uint64_t, kTypes> bytes_sent{};     // header + page
  std::array<uint64_t, kTypes> messages_received{};
  std::array<uint64_t, kTypes> bytes_received{};
  uint64_t rejected_malformed = 0;  // did not decode (bad type, node, region, frame)
  uint64_t rejected_protocol = 0;   // decoded, refused by the protocol
  uint64_t send_errors = 0;         // the transport refused a send
  uint64_t timer_fires = 0;         // retry timers that ran on_timeout
  uint64_t timer_backoffs = 0;      // timers armed for longer after an unanswered one fired
  uint64_t retries_deferred = 0;    // due timers of fetches queued behind others: not re-sent
  uint64_t install_errors = 0;      // an install/invalidate the engine refused
  uint64_t page_errors = 0;         // a page source that had no bytes
  uint64_t evict_refused = 0;       // on_evict said EBUSY/EPERM
  uint64_t runs_sent = 0;           // frames carrying several messages (send_pages)
};

struct RegionStats {
  std::string protocol;  // its name
  uint16_t self = 0;
  uint64_t frames = 0;
  protocol::ProtocolStats proto;
  FaultStatsSnapshot engine;
  DriverCounters driver;

  uint64_t rejected() const { return driver.rejected_malformed + driver.rejected_protocol; }
  std::string to_text() const;
  std::string to_json() const;
};

// The driver's counters, bumped lock-free from any thread.
class AtomicDriverCounters {
 public:
  void sent(protocol::MsgType t, uint64_t bytes);
  void received(protocol::MsgType t, uint64_t bytes);
  static void bump(std::atomic<uint64_t>& c) { c.fetch_add(1, std::memory_order_relaxed); }
  DriverCounters snapshot() const;

  std::atomic<uint64_t> rejected_malformed{0}, rejected_protocol{0}, send_errors{0}, timer_fires{0},
      timer_backoffs{0}, retries_deferred{0}, install_errors{0}, page_errors{0}, evict_refused{0},
      runs_sent{0};

 private:
  std::array<std::atomic<uint64_t>, DriverCounters::kTypes> messages_sent_{}, bytes_sent_{},
      messages_received_{}, bytes_received_{};
};

}  // namespace dsm
