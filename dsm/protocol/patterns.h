#pragma once
// Sharing patterns run on the simulator over a reliable, in-order network,
// to compare protocols by what they send: the offline half of
// `pangaea bench coherence` (the live half runs the same patterns on real
// nodes and measures time).
//
//  - ping-pong: two nodes take turns writing one frame (a lock or a counter).
//  - false-sharing: every node in turn reads then writes its own bytes of one
//    frame; at page granularity it is a migratory frame.
//  - read-mostly: one writer updates a frame every `write_every` operations,
//    every other node reads it each operation.
//  - producer-consumer: one node writes a frame, the next node reads it.
//
// Threads: none; deterministic.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "dsm/protocol/protocol.h"

namespace dsm::protocol::sim {

struct PatternOptions {
  std::string protocol = "msi-home";
  std::string pattern = "ping-pong";
  uint16_t nodes = 3;
  uint64_t rounds = 100;
  uint64_t write_every = 10;  // read-mostly
};

struct PatternResult {
  uint64_t operations = 0;  // reads and writes issued
  uint64_t faults = 0;      // of which needed the protocol
  uint64_t messages = 0;    // sent over the network
  uint64_t page_messages = 0;
  uint64_t invalidations = 0;
  uint64_t forwards = 0;
  double messages_per_op() const { return operations ? double(messages) / operations : 0; }
};

// One step of a pattern: `node` reads or writes frame 0 (a write touches the
// node's own bytes in false-sharing, the shared word otherwise).
struct PatternOp {
  NodeId node = 0;
  Access access = Access::kRead;
};

// The steps of a pattern, in order; shared by the simulator below and the
// live benchmark (dsm/region/coherence_bench.h).
base::StatusOr<std::vector<PatternOp>> pattern_ops(const PatternOptions& options);

// Known patterns, for --help and errors.
inline constexpr std::string_view kPatterns[] = {"ping-pong", "false-sharing", "read-mostly",
                                                 "producer-consumer"};

// Runs a pattern; checks coherence as it goes (any violation is the error).
base::StatusOr<PatternResult> run_pattern(const PatternOptions& options);

}  // namespace dsm::protocol::sim
