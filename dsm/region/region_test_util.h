#pragma once
// Test clusters: N Regions in one process, each over its own transport
// (loopback, loopback with injected faults, or libfabric on 127.0.0.1).

#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "dsm/region/region.h"
#include "rpc/fabric_transport.h"
#include "rpc/loopback_transport.h"

namespace dsm::testing {

enum class Net { kLoopback, kFaulty, kFabric };

inline std::string to_string(Net n) {
  return n == Net::kLoopback ? "Loopback" : n == Net::kFaulty ? "Faulty" : "Fabric";
}

// Ports unlikely to collide with other test binaries running at the same
// time: 128 per process, below the ephemeral range. REQUIRES i < 128.
inline uint16_t region_test_port(int i) {
  return static_cast<uint16_t>(20000 + (getpid() % 90) * 128 + i);
}

struct Cluster {
  std::unique_ptr<rpc::LoopbackNetwork> network;
  std::vector<std::unique_ptr<rpc::Transport>> transports;
  std::vector<std::unique_ptr<Region>> regions;

  ~Cluster() {
    regions.clear();  // before the transports they use
    transports.clear();
  }

  // `port_base` offsets fabric ports so consecutive clusters in one test
  // binary do not meet a socket still in TIME_WAIT.
  static std::unique_ptr<Cluster> make(Net net, int nodes, RegionConfig config, int port_base = 0) {
    auto c = std::make_unique<Cluster>();
    std::vector<std::string> names;
    for (int i = 0; i < nodes; ++i) names.push_back("n" + std::to_string(i));
    if (net == Net::kFabric) {
      std::vector<rpc::FabricAddress> addrs;
      for (int i = 0; i < nodes; ++i)
        addrs.push_back({"127.0.0.1", region_test_port(port_base + i)});
      for (int i = 0; i < nodes; ++i) {
        auto t = rpc::FabricTransport::Create("tcp", names, addrs, i, "region-test");
        if (!t.ok()) return nullptr;
        c->transports.push_back(std::move(t).value());
      }
    } else {
      rpc::FaultOptions faults;
      if (net == Net::kFaulty) {
        faults.seed = 7;
        faults.drop = 0.03;
        faults.duplicate = 0.05;
        faults.reorder = 0.1;
        faults.reorder_delay = std::chrono::microseconds(1500);
      }
      c->network = std::make_unique<rpc::LoopbackNetwork>(names, faults);
      for (int i = 0; i < nodes; ++i) {
        auto t = c->network->attach(i, "region-test");
        if (!t.ok()) return nullptr;
        c->transports.push_back(std::move(t).value());
      }
    }
    config.node_count = static_cast<uint16_t>(nodes);
    if (net == Net::kFaulty) {
      // Lost messages are retried promptly, and backoff stays short: a
      // handshake the faults delayed costs little more than itself.
      config.retry_interval = std::chrono::milliseconds(10);
      config.retry_max = std::chrono::milliseconds(80);
    }
    for (int i = 0; i < nodes; ++i) {
      config.self = static_cast<uint16_t>(i);
      auto r = Region::Create(config, *c->transports[i]);
      if (!r.ok()) return nullptr;
      c->regions.push_back(std::move(r).value());
    }
    return c;
  }
};

}  // namespace dsm::testing
