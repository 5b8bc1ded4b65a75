#pragma once
// A cluster of `pangaea node` processes on this machine, on loopback, with a
// generated config: what `pangaea up --local N`, `pangaea down` and
// `pangaea run` use.
//
// Run directory (RUN.md): cluster.toml, secret (mode 0600), nodes (one line
// "NAME PID" per started node), NAME.log (each node's stderr).
//
// Threads: one; a LocalCluster owns a ControlClient bound to its thread.

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "node/config.h"
#include "rpc/control/client.h"
#include "tools/cluster_view.h"

namespace tools {

struct LocalClusterOptions {
  int nodes = 3;
  std::string dir;                      // run directory; created if absent
  uint64_t memory_per_node = 64 << 20;  // bytes
  std::string log_level = "info";       // of the nodes, into NAME.log
  std::chrono::milliseconds up_timeout{20000};
  bool detach = false;  // nodes outlive this process
  // The primary (n0) is not started: the caller runs it in-process
  // (`pangaea boot --local-nodes N`). Start() then waits only until the other
  // nodes answer on their control plane; the caller waits for them to be up.
  bool external_primary = false;
  uint64_t guest_memory = 0;  // [guest] memory; 0 = the sum of the nodes'
};

// The default run directory: $XDG_RUNTIME_DIR/pangaea-local, else
// /tmp/pangaea-local-UID.
std::string default_run_dir();

class LocalCluster {
 public:
  // Writes the config, starts the nodes and waits until each sees all the
  // others up. On error every node it started is stopped again.
  static base::StatusOr<std::unique_ptr<LocalCluster>> Start(const LocalClusterOptions& options);
  // A cluster started earlier (with --detach) in `dir`, to stop it.
  static base::StatusOr<std::unique_ptr<LocalCluster>> Attach(const std::string& dir);
  // Stops the nodes unless detached.
  ~LocalCluster();

  const std::string& dir() const { return dir_; }
  const std::string& config_path() const { return config_path_; }
  const node::ClusterConfig& config() const { return config_; }
  rpc::control::ControlClient& client() { return *client_; }
  ClusterView view();
  // The view once every node's RTT has been measured (at most `timeout`).
  ClusterView settled_view(std::chrono::milliseconds timeout = std::chrono::milliseconds(1500));

  // Stops every node: a control `shutdown`, then SIGTERM, then SIGKILL for
  // one that is still there after `grace`. Returns an error naming the nodes
  // that had to be killed or did not exit cleanly.
  base::Status stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));
  // Leaves the nodes running when this object goes away.
  void detach() { detached_ = true; }
  // Reaps nodes that exited on their own; returns their names.
  std::vector<std::string> reap_exited();

 private:
  struct Proc {
    std::string name;
    pid_t pid = -1;
    bool child = false;  // ours to waitpid; else only signalled
    bool running = true;
    int wait_status = 0;
  };
  LocalCluster() = default;
  base::Status write_files(const LocalClusterOptions& options);
  base::Status spawn(const std::string& name, const std::string& log_level, bool detach);
  base::Status wait_all_up(std::chrono::milliseconds timeout, bool external_primary);
  bool alive(Proc& p);
  base::Status write_pid_file() const;

  std::string dir_;
  std::string config_path_;
  node::ClusterConfig config_;
  std::vector<Proc> procs_;
  std::unique_ptr<rpc::control::ControlClient> client_;
  bool detached_ = false;
};

}  // namespace tools
