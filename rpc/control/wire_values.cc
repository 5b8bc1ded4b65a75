#include "rpc/control/wire_values.h"

namespace rpc::control {

NodeStatusInfo from_wire(wire::NodeStatus::Reader s) {
  NodeStatusInfo info;
  info.cluster = s.getCluster();
  info.name = s.getName();
  info.pid = s.getPid();
  info.uptime_ms = s.getUptimeMs();
  info.memory_given = s.getMemoryGiven();
  info.memory_used = s.getMemoryUsed();
  for (auto p : s.getPeers()) {
    PeerInfo peer;
    peer.name = p.getName();
    peer.address = p.getAddress();
    peer.self = p.getSelf();
    peer.up = p.getUp();
    peer.rtt_us = p.getRttUs();
    peer.memory_given = p.getMemoryGiven();
    peer.memory_used = p.getMemoryUsed();
    peer.rejected = p.getRejected();
    info.peers.push_back(std::move(peer));
  }
  return info;
}

StatsInfo from_wire(wire::Stats::Reader s) {
  StatsInfo info;
  for (auto c : s.getCounters()) info.counters.push_back({c.getGroup(), c.getName(), c.getValue()});
  return info;
}

}  // namespace rpc::control
