#pragma once
// The cluster as `pangaea status` shows it: every node of the config asked
// over its control plane; a node that does not answer is down. Each answering
// node also reports how it sees the others, so a node that answers but that
// its peers refuse (a wrong secret) or cannot reach shows as such.

#include <chrono>
#include <string>
#include <vector>

#include "node/config.h"
#include "rpc/control/client.h"
#include "rpc/control/control_types.h"

namespace tools {

struct NodeRow {
  std::string name;
  std::string address;  // data plane host:port
  bool answered = false;
  std::string error;                    // why it did not answer
  rpc::control::NodeStatusInfo status;  // valid if answered
  int seen_up_by = 0;                   // counted peers that see it up
  int answering_peers = 0;              // counted peers: answering, not isolated, not itself
  uint64_t rtt_us = 0;                  // mean RTT to it, from the peers that see it up
  int peers_up = 0;                     // how many peers it sees up
  // "down" (no answer), "up" (every counted peer sees it up), "isolated"
  // (answers, no peer sees it up) or "partial" (some do). Counted peers are
  // the answering ones that are not isolated themselves.
  std::string state() const;
};

struct ClusterView {
  std::string cluster;
  std::vector<NodeRow> rows;
  int up() const;  // rows in state "up"
  bool all_up() const { return up() == static_cast<int>(rows.size()); }
};

ClusterView query_cluster(const node::ClusterConfig& config, rpc::control::ControlClient& client,
                          std::chrono::milliseconds timeout = std::chrono::milliseconds(1000));

// The view from each node's answer (or error), in config order.
ClusterView build_view(const node::ClusterConfig& config,
                       std::vector<base::StatusOr<rpc::control::NodeStatusInfo>> answers);

// The table of ClusterView: NAME ADDRESS GIVEN USED STATE RTT PEERS.
std::string format_cluster_table(const ClusterView& view);
// One node's own membership table (what `status --from NAME` prints).
std::string format_node_view(const rpc::control::NodeStatusInfo& status);

std::string format_rtt(uint64_t rtt_us);

}  // namespace tools
