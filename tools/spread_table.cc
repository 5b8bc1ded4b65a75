#include "tools/spread_table.h"

#include <string>

#include <fmt/format.h>

#include "base/bytes.h"

namespace tools {
namespace {
// "4.0MiB": one word, so that a row splits on whitespace.
std::string size(uint64_t bytes) {
  std::string s = base::format_size(bytes);
  std::erase(s, ' ');
  return s;
}
}  // namespace

std::string format_spread_table(const std::vector<SpreadRow>& rows) {
  std::string out = fmt::format(
      "{:<8} {:>8} {:>10} {:>8} {:>8} {:>8} {:>10} {:>10} {:>8} {:>8} {:>8}\n", "NODE", "HOMED",
      "HOME-MEM", "CACHED", "FETCHED", "SERVED", "SENT", "RECV", "PEAK", "BUDGET", "EVICTED");
  for (const SpreadRow& r : rows) {
    if (!r.stats.ok()) {
      out += fmt::format("{:<8} down ({})\n", r.name, r.stats.error().message());
      continue;
    }
    const rpc::control::StatsInfo& s = *r.stats;
    auto g = [&](const char* name) { return s.get("region", name); };
    out += fmt::format("{:<8} {:>8} {:>10} {:>8} {:>8} {:>8} {:>10} {:>10} {:>8} {:>8} {:>8}\n",
                       r.name, g("frames_homed"), size(s.get("node", "memory_used")), g("resident"),
                       g("grants_received"), g("grants_sent"), size(g("bytes_sent")),
                       size(g("bytes_received")), g("resident_max"), g("budget_frames"),
                       g("evictions"));
  }
  return out;
}

}  // namespace tools
