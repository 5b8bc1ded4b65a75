#pragma once
// The guest region's statistics as control-plane counters (`pangaea stats`,
// and a DSM client's stats request). Groups:
//   region           totals: frames, residency, faults by kind, grants,
//                    invalidations, evictions, messages and bytes, retries,
//                    rejected messages (tools/spread_table.h reads some)
//   region.messages  by message type: <Type>_sent, <Type>_received,
//                    <Type>_bytes_sent, <Type>_bytes_received (types never
//                    sent nor received are left out)
//   region.latency   of demand faults, for each of total, uffd, network,
//                    protocol, engine (dsm/fault/fault_stats.h):
//                    <kind>_count, <kind>_p50_ns, <kind>_p99_ns,
//                    <kind>_p999_ns (bucket upper bounds) and the histogram,
//                    <kind>_lt_<N>ns = faults that took [N/2, N) ns
//                    (non-empty buckets only)

#include <cstdint>
#include <vector>

#include "dsm/region/region_stats.h"
#include "rpc/control/control_types.h"

namespace node {

void add_region_counters(std::vector<rpc::control::Counter>& out, const dsm::RegionStats& r,
                         uint64_t frames_homed, uint64_t budget_frames);

}  // namespace node
