#include "dsm/region/region_stats.h"

#include <fmt/format.h>

namespace dsm {

namespace {

uint64_t load(const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); }

// Latency quantiles in microseconds, from a log2 histogram (upper bounds).
std::string quantiles_json(const LatencyHistogram& h) {
  return fmt::format(R"({{"count":{},"p50_us":{:.1f},"p99_us":{:.1f},"p999_us":{:.1f}}})",
                     h.total(), h.quantile_ns(0.5) / 1e3, h.quantile_ns(0.99) / 1e3,
                     h.quantile_ns(0.999) / 1e3);
}

}  // namespace

void AtomicDriverCounters::sent(protocol::MsgType t, uint64_t bytes) {
  auto i = static_cast<size_t>(t);
  if (i >= DriverCounters::kTypes) return;
  messages_sent_[i].fetch_add(1, std::memory_order_relaxed);
  bytes_sent_[i].fetch_add(bytes, std::memory_order_relaxed);
}

void AtomicDriverCounters::received(protocol::MsgType t, uint64_t bytes) {
  auto i = static_cast<size_t>(t);
  if (i >= DriverCounters::kTypes) return;
  messages_received_[i].fetch_add(1, std::memory_order_relaxed);
  bytes_received_[i].fetch_add(bytes, std::memory_order_relaxed);
}

DriverCounters AtomicDriverCounters::snapshot() const {
  DriverCounters c;
  for (size_t i = 0; i < DriverCounters::kTypes; ++i) {
    c.messages_sent[i] = load(messages_sent_[i]);
    c.bytes_sent[i] = load(bytes_sent_[i]);
    c.messages_received[i] = load(messages_received_[i]);
    c.bytes_received[i] = load(bytes_received_[i]);
  }
  c.rejected_malformed = load(rejected_malformed);
  c.rejected_protocol = load(rejected_protocol);
  c.send_errors = load(send_errors);
  c.timer_fires = load(timer_fires);
  c.timer_backoffs = load(timer_backoffs);
  c.retries_deferred = load(retries_deferred);
  c.install_errors = load(install_errors);
  c.page_errors = load(page_errors);
  c.evict_refused = load(evict_refused);
  c.runs_sent = load(runs_sent);
  return c;
}

std::string RegionStats::to_text() const {
  std::string s = fmt::format("region: {} frames, protocol {}, node {}\n", frames, protocol, self);
  s += fmt::format(
      "protocol: faults {} coalesced {} retries {} invalidations {} evictions {} forwards {} "
      "queued {} stale {} rejected {}\n",
      proto.faults, proto.coalesced, proto.retries, proto.invalidations, proto.evictions,
      proto.forwards, proto.queued, proto.stale, proto.rejected);
  if (proto.nodes_down != 0 || proto.lost_frames != 0) {
    s += fmt::format(
        "node failure: nodes down {} lost frames {} failed faults {} acks waived {} "
        "rejected from dead nodes {}\n",
        proto.nodes_down, proto.lost_frames, proto.failed_faults, proto.acks_waived,
        proto.from_down);
  }
  s += "messages (sent/received, bytes sent):";
  for (size_t i = 1; i < DriverCounters::kTypes; ++i) {
    if (driver.messages_sent[i] == 0 && driver.messages_received[i] == 0) continue;
    s += fmt::format(" {} {}/{} {}B;", protocol::to_string(static_cast<protocol::MsgType>(i)),
                     driver.messages_sent[i], driver.messages_received[i], driver.bytes_sent[i]);
  }
  s += fmt::format(
      "\ndriver: rejected malformed {} by protocol {}, send errors {}, timer fires {} "
      "(backoffs {}, deferred {}), install errors {}, page errors {}, evictions refused {}\n",
      driver.rejected_malformed, driver.rejected_protocol, driver.send_errors, driver.timer_fires,
      driver.timer_backoffs, driver.retries_deferred, driver.install_errors, driver.page_errors,
      driver.evict_refused);
  s += engine.to_string();
  return s;
}

std::string RegionStats::to_json() const {
  std::string msgs;
  for (size_t i = 1; i < DriverCounters::kTypes; ++i) {
    if (!msgs.empty()) msgs += ",";
    msgs +=
        fmt::format(R"("{}":{{"sent":{},"bytes_sent":{},"received":{},"bytes_received":{}}})",
                    protocol::to_string(static_cast<protocol::MsgType>(i)), driver.messages_sent[i],
                    driver.bytes_sent[i], driver.messages_received[i], driver.bytes_received[i]);
  }
  const FaultStatsSnapshot& e = engine;
  return fmt::format(
      R"({{"protocol":"{}","node":{},"frames":{},)"
      R"("faults":{{"read_miss":{},"write_miss":{},"write_upgrade":{},"coalesced":{},)"
      R"("already_valid":{},"fetch_errors":{},"protocol_faults":{}}},)"
      R"("latency":{{"total":{},"uffd":{},"network":{},"protocol":{},"engine":{}}},)"
      R"("messages":{{{}}},)"
      R"("invalidations":{{"engine":{},"protocol":{}}},"evictions":{},"write_backs":{},)"
      R"("read_ahead":{{"issued":{},"hits":{}}},"resident":{},"resident_max":{},)"
      R"("protocol_counters":{{"retries":{},"forwards":{},"queued":{},"stale":{},"rejected":{}}},)"
      R"("rejected":{{"malformed":{},"protocol":{}}},"send_errors":{},"timer_fires":{},)"
      R"("timer_backoffs":{},"retries_deferred":{},)"
      R"("install_errors":{},"page_errors":{},"evict_refused":{},"runs_sent":{}}})",
      protocol, self, frames, e.read_misses, e.write_misses, e.write_upgrades, e.coalesced,
      e.already_valid, e.fetch_errors, proto.faults, quantiles_json(e.total_ns),
      quantiles_json(e.uffd_ns), quantiles_json(e.network_ns), quantiles_json(e.protocol_ns),
      quantiles_json(e.engine_ns), msgs, e.invalidations, proto.invalidations, e.evictions,
      e.write_backs, e.read_ahead_issued, e.read_ahead_hits, e.resident, e.resident_max,
      proto.retries, proto.forwards, proto.queued, proto.stale, proto.rejected,
      driver.rejected_malformed, driver.rejected_protocol, driver.send_errors, driver.timer_fires,
      driver.timer_backoffs, driver.retries_deferred, driver.install_errors, driver.page_errors,
      driver.evict_refused, driver.runs_sent);
}

}  // namespace dsm
