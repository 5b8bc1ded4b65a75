#pragma once
// A blocking control plane client, for `pangaea status`, `pangaea down` and
// tests. Each call connects, asks, and disconnects; a node that does not
// answer within the timeout is an error (ETIMEDOUT, ECONNREFUSED...).
//
// Threads: a ControlClient owns a kj event loop bound to the thread that
// created it; use it from that thread only, and have at most one per thread.

#include <chrono>
#include <memory>
#include <string>

#include "base/result.h"
#include "rpc/control/control_types.h"

namespace rpc::control {

class ControlClient {
 public:
  static base::StatusOr<std::unique_ptr<ControlClient>> Create();
  ~ControlClient();
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;

  using Timeout = std::chrono::milliseconds;
  base::StatusOr<NodeStatusInfo> status(const std::string& address,
                                        Timeout timeout = Timeout(1000));
  base::StatusOr<StatsInfo> stats(const std::string& address, Timeout timeout = Timeout(1000));
  base::Status shutdown(const std::string& address, Timeout timeout = Timeout(1000));

 private:
  struct Io;
  explicit ControlClient(std::unique_ptr<Io> io);
  std::unique_ptr<Io> io_;
};

}  // namespace rpc::control
