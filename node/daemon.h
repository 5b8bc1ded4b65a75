#pragma once
// The node daemon behind `pangaea node`: contributes the page store, runs the
// fabric transport, serves the guest-memory dsm::Region (the guest's RAM,
// guest.memory / 4 KiB frames, home copies in the page store), runs
// membership (heartbeats, peer up/down), and serves the control plane, until
// SIGTERM/SIGINT or a control `shutdown`. The primary's `pangaea boot` runs
// the same Daemon in-process and hands region().frame_store() to the guest
// kernel (tools/cluster_boot.h).
//
// The Region is made before membership, so a node that peers see up already
// serves its frames (a request that comes earlier is dropped as unexpected
// and retried by the requester's protocol).
//
// Threads: run() is the main thread and only waits (signalfd + eventfd); the
// transport has its progress thread(s), the region its handler pool and
// timer thread (dsm/region/region_driver.h), membership its own thread, the
// control server its kj thread. ControlHandler calls arrive on the control
// thread and only read thread-safe snapshots (membership, transport
// counters, region stats, the page store's accounting).
//
// Local processes attach the region through the control server's attach
// socket (dsm/client/client.h; rpc/control/CONTROL.md "Attach"): the
// AttachService hands them the region's memfd and attaches their
// userfaultfd to the region's fault engine, on the control thread.
//
// Teardown order: control (connections end, so clients detach), attach
// service (detaches what is left), membership, region, transport, store.

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"
#include "node/config.h"
#include "node/page_store.h"
#include "rpc/control/control_types.h"

namespace dsm {
class Region;
namespace client {
class AttachService;
}
}  // namespace dsm
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
  // destructor does the clean teardown. An error (ESTALE) when a peer
  // declared this process dead (Membership::Fenced): it must not go on.
  // REQUIRES: block_stop_signals().
  base::Status run();

  // The guest-memory region this node serves.
  dsm::Region& region() { return *region_; }
  // Frames of the region homed on this node (by the placement).
  uint64_t frames_homed() const { return frames_homed_; }
  // Waits until membership sees every other node of the config up. On
  // timeout the error names the nodes still missing.
  base::Status wait_for_peers(std::chrono::milliseconds timeout);

  rpc::control::NodeStatusInfo status() override;
  rpc::control::StatsInfo stats() override;
  void request_shutdown() override;

 private:
  Daemon(const ClusterConfig& config, int self);

  const ClusterConfig config_;
  const int self_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  // The peer that declared this process dead, or -1 (set once, then a stop).
  std::atomic<int> fenced_by_{-1};
  base::UniqueFd stop_event_;  // eventfd written by request_shutdown()
  base::UniqueFd signals_;     // signalfd for the stop signals
  // Declared in start order; destroyed in reverse.
  std::unique_ptr<PageStore> store_;
  std::unique_ptr<rpc::FabricTransport> transport_;
  std::unique_ptr<dsm::Region> region_;
  uint64_t frames_homed_ = 0;
  std::unique_ptr<Membership> membership_;
  std::unique_ptr<dsm::client::AttachService> attach_;
  std::unique_ptr<rpc::control::ControlServer> control_;
};

}  // namespace node
