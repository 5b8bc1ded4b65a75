#pragma once
// The node daemon behind `pangaea node`: contributes the page store, runs the
// fabric transport and membership (heartbeats, peer up/down), and serves the
// control plane, until SIGTERM/SIGINT or a control `shutdown`.
//
// Threads: run() is the main thread and only waits (signalfd + eventfd); the
// transport has its progress thread(s), membership its own, the control
// server its kj thread. ControlHandler calls arrive on the control thread and
// only read thread-safe snapshots (membership, transport counters, the page
// store's accounting). Teardown order: control, membership, transport, store.

#include <chrono>
#include <memory>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"
#include "node/config.h"
#include "node/page_store.h"
#include "rpc/control/control_types.h"

namespace rpc {
class FabricTransport;
namespace control {
class ControlServer;
}
}  // namespace rpc

namespace node {

class Membership;

class Daemon : public rpc::control::ControlHandler {
 public:
  // Blocks SIGTERM, SIGINT and SIGHUP in the calling thread so that every
  // thread started later inherits the mask and run() receives them through a
  // signalfd. REQUIRES: called before any thread is started.
  static base::Status block_stop_signals();

  // Starts everything for node `name` of `config`; on error nothing is left
  // running.
  static base::StatusOr<std::unique_ptr<Daemon>> Create(const ClusterConfig& config,
                                                        const std::string& name);
  ~Daemon() override;

  // Waits for a stop signal or a control shutdown, then returns; the
  // destructor does the clean teardown. REQUIRES: block_stop_signals().
  base::Status run();

  rpc::control::NodeStatusInfo status() override;
  rpc::control::StatsInfo stats() override;
  void request_shutdown() override;

 private:
  Daemon(const ClusterConfig& config, int self);

  const ClusterConfig config_;
  const int self_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  base::UniqueFd stop_event_;  // eventfd written by request_shutdown()
  base::UniqueFd signals_;     // signalfd for the stop signals
  // Declared in start order; destroyed in reverse.
  std::unique_ptr<PageStore> store_;
  std::unique_ptr<rpc::FabricTransport> transport_;
  std::unique_ptr<Membership> membership_;
  std::unique_ptr<rpc::control::ControlServer> control_;
};

}  // namespace node
