#include "node/region_counters.h"

#include <fmt/format.h>

#include <string>
#include <utility>

namespace node {

// The groups are listed in the header; `region` holds what a table of the
// spread needs (tools/spread_table.h) and the usual totals.
void add_region_counters(std::vector<rpc::control::Counter>& out, const dsm::RegionStats& r,
                         uint64_t frames_homed, uint64_t budget_frames) {
  using dsm::protocol::MsgType;
  auto add = [&](const char* name, uint64_t v) { out.push_back({"region", name, v}); };
  auto at = [](const auto& array, MsgType t) { return array[static_cast<size_t>(t)]; };
  const dsm::DriverCounters& d = r.driver;
  uint64_t sent = 0, received = 0, bytes_sent = 0, bytes_received = 0;
  for (size_t i = 0; i < dsm::DriverCounters::kTypes; ++i) {
    sent += d.messages_sent[i];
    received += d.messages_received[i];
    bytes_sent += d.bytes_sent[i];
    bytes_received += d.bytes_received[i];
  }
  add("frames", r.frames);
  add("frames_homed", frames_homed + r.proto.homes_won);  // + first-touch's claims won
  add("resident", r.engine.resident);
  add("resident_max", r.engine.resident_max);
  add("budget_frames", budget_frames);  // 0: no budget
  add("read_misses", r.engine.read_misses);
  add("write_misses", r.engine.write_misses);
  add("write_upgrades", r.engine.write_upgrades);
  add("coalesced", r.engine.coalesced);
  add("read_ahead_hits", r.engine.read_ahead_hits);
  add("lost_frames", r.proto.lost_frames);      // died with a node (dsm/PROTOCOLS.md)
  add("failed_faults", r.proto.failed_faults);  // accesses that got SIGBUS
  add("nodes_down", r.proto.nodes_down);
  // Grants carry the pages: received = fetched by this node, sent = served.
  add("grants_received",
      at(d.messages_received, MsgType::kReadGrant) + at(d.messages_received, MsgType::kWriteGrant));
  add("grants_sent",
      at(d.messages_sent, MsgType::kReadGrant) + at(d.messages_sent, MsgType::kWriteGrant));
  add("write_backs_received", at(d.messages_received, MsgType::kWriteBack));
  add("invalidations", r.engine.invalidations);
  add("evictions", r.engine.evictions);
  add("messages_sent", sent);
  add("messages_received", received);
  add("bytes_sent", bytes_sent);
  add("bytes_received", bytes_received);
  add("rejected", r.rejected());
  add("fetch_errors", r.engine.fetch_errors);
  add("retries", r.proto.retries);
  add("timer_fires", d.timer_fires);
  add("retries_deferred", d.retries_deferred);
  add("runs_sent", d.runs_sent);
  add("read_ahead_issued", r.engine.read_ahead_issued);

  for (size_t i = 0; i < dsm::DriverCounters::kTypes; ++i) {
    if (d.messages_sent[i] == 0 && d.messages_received[i] == 0) continue;
    const std::string type(dsm::protocol::to_string(static_cast<MsgType>(i)));
    auto put = [&](const char* what, uint64_t v) {
      out.push_back({"region.messages", type + "_" + what, v});
    };
    put("sent", d.messages_sent[i]);
    put("received", d.messages_received[i]);
    put("bytes_sent", d.bytes_sent[i]);
    put("bytes_received", d.bytes_received[i]);
  }

  const std::pair<const char*, const dsm::LatencyHistogram*> kinds[] = {
      {"total", &r.engine.total_ns},
      {"uffd", &r.engine.uffd_ns},
      {"network", &r.engine.network_ns},
      {"protocol", &r.engine.protocol_ns},
      {"engine", &r.engine.engine_ns}};
  for (const auto& [kind, h] : kinds) {
    auto put = [&](const std::string& what, uint64_t v) {
      out.push_back({"region.latency", std::string(kind) + "_" + what, v});
    };
    put("count", h->total());
    put("p50_ns", h->quantile_ns(0.5));
    put("p99_ns", h->quantile_ns(0.99));
    put("p999_ns", h->quantile_ns(0.999));
    for (int b = 0; b < dsm::LatencyHistogram::kBuckets; ++b) {
      if (h->counts[static_cast<size_t>(b)] == 0) continue;
      put(fmt::format("lt_{}ns", uint64_t{2} << b), h->counts[static_cast<size_t>(b)]);
    }
  }
}

}  // namespace node
