#pragma once
// `pangaea bench coherence`: the sharing patterns of dsm/protocol/patterns.h
// (ping-pong, false-sharing, read-mostly) run live on 3 real Regions in this
// process, each over its own libfabric endpoint on 127.0.0.1, with real
// userfaultfd faults; per protocol and pattern it reports the faults by
// kind, the messages and bytes sent, invalidations, forwards and the time
// per operation, next to the message count the offline simulator predicts
// for the same steps. Every read checks the last value written (a mismatch
// fails the benchmark), so a fast and wrong protocol cannot win.
//
// One cluster per protocol; each pattern uses its own frame (homed on node
// 0, like the simulator's), and its figures are the difference of the
// nodes' RegionStats before and after it. The operations run one after the
// other from the calling thread, each on the node the pattern names (a load
// or store through that node's mapping).
//
// Threads: the caller's, plus those of the Regions and transports it makes.

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "rpc/fabric_transport.h"

namespace dsm {

struct CoherenceBenchOptions {
  std::vector<std::string> protocols = {"msi-home", "ivy-dynamic"};
  std::vector<std::string> patterns = {"ping-pong", "false-sharing", "read-mostly"};
  uint64_t rounds = 200;      // per pattern (see patterns.h for what a round is)
  uint64_t write_every = 10;  // read-mostly
  std::string provider = "tcp";
  std::string host = "127.0.0.1";
  uint16_t port = 47300;  // 3 ports per protocol from here
};

struct CoherenceFigures {
  std::string pattern;
  uint64_t operations = 0;
  uint64_t read_faults = 0;   // read misses
  uint64_t write_faults = 0;  // write misses
  uint64_t upgrades = 0;      // writes to a read-only copy
  uint64_t messages = 0;      // sent, all nodes
  uint64_t bytes = 0;         // sent: headers and pages
  uint64_t invalidations = 0;
  uint64_t forwards = 0;
  uint64_t retries = 0;       // messages the protocols re-sent (timeouts, stale replies)
  uint64_t timer_fires = 0;   // retry timers that ran on_timeout
  uint64_t sim_messages = 0;  // what the simulator sends for the same steps
  double us_per_op = 0;
};

struct CoherenceProtocolReport {
  std::string protocol;
  std::vector<CoherenceFigures> patterns;
};

struct CoherenceBenchReport {
  std::string provider;  // as libfabric names it
  uint64_t rounds = 0;
  std::vector<CoherenceProtocolReport> protocols;
};

base::StatusOr<CoherenceBenchReport> run_coherence_bench(const CoherenceBenchOptions& options);

std::string format_coherence_table(const CoherenceBenchReport& report);
std::string format_coherence_json(const CoherenceBenchReport& report);

}  // namespace dsm
