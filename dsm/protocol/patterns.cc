#include "dsm/protocol/patterns.h"

#include "dsm/protocol/model_check.h"

namespace dsm::protocol::sim {

base::StatusOr<std::vector<PatternOp>> pattern_ops(const PatternOptions& o) {
  if (o.nodes < 2) return base::Error("pattern: needs at least 2 nodes", EINVAL);
  std::vector<PatternOp> ops;
  auto op = [&](NodeId n, Access a) { ops.push_back({n, a}); };
  // Frame 0's home is node 0: the sharers below are the other nodes where a
  // pattern allows it, so every transfer crosses the network.
  NodeId first = 1, second = o.nodes > 2 ? 2 : 0;
  if (o.pattern == "ping-pong") {
    for (uint64_t i = 0; i < o.rounds; ++i) {
      op(first, Access::kWrite);
      op(second, Access::kWrite);
    }
  } else if (o.pattern == "false-sharing") {
    for (uint64_t i = 0; i < o.rounds; ++i) {
      for (NodeId n = 0; n < o.nodes; ++n) {
        op(n, Access::kRead);
        op(n, Access::kWrite);
      }
    }
  } else if (o.pattern == "read-mostly") {
    uint64_t every = o.write_every ? o.write_every : 1;
    for (uint64_t i = 0; i < o.rounds; ++i) {
      if (i % every == 0) op(first, Access::kWrite);
      for (NodeId n = 0; n < o.nodes; ++n) {
        if (n != first) op(n, Access::kRead);
      }
    }
  } else if (o.pattern == "producer-consumer") {
    for (uint64_t i = 0; i < o.rounds; ++i) {
      op(first, Access::kWrite);
      op(second, Access::kRead);
    }
  } else {
    return base::Error("unknown pattern \"" + o.pattern +
                           "\" (known: ping-pong, false-sharing, read-mostly, producer-consumer)",
                       EINVAL);
  }
  return ops;
}

base::StatusOr<PatternResult> run_pattern(const PatternOptions& o) {
  const std::vector<PatternOp> ops = TRY(pattern_ops(o));
  SimOptions so;
  so.protocol = o.protocol;
  so.nodes = o.nodes;
  so.frames = 1;
  so.p_drop = so.p_duplicate = 0;
  so.p_in_order = 1;
  auto sim = TRY(Simulator::Create(so));
  PatternResult r;
  for (const PatternOp& op : ops) {
    ++r.operations;
    TRY(sim->access(op.node, 0, op.access));
    TRY(sim->drain());
  }
  ProtocolStats s = sim->total_stats();
  r.faults = s.faults;
  r.messages = sim->counters().sent;
  r.page_messages = sim->counters().sent_pages;
  r.invalidations = s.invalidations;
  r.forwards = s.forwards;
  if (s.rejected != 0) return base::Error("pattern: a protocol rejected a message", EPROTO);
  return r;
}

}  // namespace dsm::protocol::sim
