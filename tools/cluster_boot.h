#pragma once
// `pangaea boot --config F [--name N]` and `pangaea boot --local-nodes N`:
// the guest's RAM is a dsm::Region spread over a cluster, and this process
// is its primary node.
//
// The boot process runs a whole node in-process (node::Daemon: page store,
// fabric transport, the guest-memory Region, membership, control plane),
// waits until every other node is up, and hands the Region's frame store to
// the guest kernel (kernel::boot::boot(options, frames)). With --local-nodes
// N it first starts the N-1 other nodes as `pangaea node` processes on
// loopback (tools/local_cluster.h, a generated config whose guest memory is
// mem=) and stops them at the end. docs/spread.md says why and what is left.
//
// Threads: the caller's (the kernel runs on it, and the control client is
// bound to it) plus the Daemon's own threads (node/daemon.h).

#include <chrono>
#include <cstdio>
#include <string>

#include "base/result.h"
#include "kernel/boot/boot_options.h"

namespace tools {

struct ClusterBootOptions {
  std::string name;  // --name: this node; default the config's primary
  // Print the cluster line before the guest and the per-node table of the
  // spread (tools/spread_table.h) after it, to `report_to`.
  // With report and --local-nodes: also the cluster table (status) once every
  // node is up, and "stopped cleanly" after the nodes are stopped.
  bool report = false;
  FILE* report_to = stderr;
  std::chrono::milliseconds peers_timeout{20000};
  std::string log_level = "warn";  // of the local nodes
};

// Runs the guest to the end on the cluster; returns its exit status as
// kernel::boot::boot() does, or why the cluster could not be joined.
base::StatusOr<int> boot_on_cluster(const kernel::boot::BootOptions& boot,
                                    const ClusterBootOptions& options);

}  // namespace tools
