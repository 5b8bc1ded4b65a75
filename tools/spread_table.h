#pragma once
// The guest's RAM as the nodes hold it: one row per node from the "region"
// and "node" counters each node serves over the control plane
// (node/daemon.cc): frames homed there, home-copy memory in use, frames
// cached there, pages it fetched (grants received) and served (grants
// sent), the region's bytes sent and received, the most frames cached at
// once (PEAK), the cache budget (BUDGET, 0 = none) and the evictions.

#include <string>
#include <vector>

#include "base/result.h"
#include "rpc/control/control_types.h"

namespace tools {

struct SpreadRow {
  std::string name;
  base::StatusOr<rpc::control::StatsInfo> stats;  // or why the node did not answer
};

std::string format_spread_table(const std::vector<SpreadRow>& rows);

}  // namespace tools
