#pragma once
// What the control plane carries, as plain C++ values: the server side fills
// them from a ControlHandler, the client side returns them. The wire form is
// rpc/schema/control.capnp (CONTROL.md).

#include <cstdint>
#include <string>
#include <vector>

namespace rpc::control {

struct PeerInfo {
  std::string name;
  std::string address;
  bool self = false;
  bool up = false;
  uint64_t rtt_us = 0;
  uint64_t memory_given = 0;
  uint64_t memory_used = 0;
  uint64_t rejected = 0;
};

struct NodeStatusInfo {
  std::string cluster;
  std::string name;
  uint32_t pid = 0;
  uint64_t uptime_ms = 0;
  uint64_t memory_given = 0;
  uint64_t memory_used = 0;
  std::vector<PeerInfo> peers;
};

struct Counter {
  std::string group;
  std::string name;
  uint64_t value = 0;
};

struct StatsInfo {
  std::vector<Counter> counters;
  // The value of group/name, or `missing` if absent.
  uint64_t get(const std::string& group, const std::string& name, uint64_t missing = 0) const {
    for (const auto& c : counters) {
      if (c.group == group && c.name == name) return c.value;
    }
    return missing;
  }
};

// What a node implements to answer control requests. Called on the control
// server's thread; implementations must be thread-safe against the node's
// other threads and must not block for long.
class ControlHandler {
 public:
  virtual ~ControlHandler() = default;
  virtual NodeStatusInfo status() = 0;
  virtual StatsInfo stats() = 0;
  // Asks the node to stop; returns at once (the stop happens elsewhere).
  virtual void request_shutdown() = 0;
};

}  // namespace rpc::control
