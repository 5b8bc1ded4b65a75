#include "rpc/faulty_transport.h"

namespace rpc {

std::chrono::microseconds FaultInjector::delay() {
  auto lo = options_.delay_min.count();
  auto hi = std::max(lo, options_.delay_max.count());
  auto d = std::chrono::microseconds(
      lo == hi ? lo : std::uniform_int_distribution<int64_t>(lo, hi)(rng_));
  if (chance(options_.reorder)) d += options_.reorder_delay;
  return d;
}

std::vector<std::chrono::microseconds> FaultInjector::plan() {
  std::vector<std::chrono::microseconds> out;
  if (chance(options_.drop)) return out;
  out.push_back(delay());
  if (chance(options_.duplicate)) out.push_back(delay());
  return out;
}

}  // namespace rpc
