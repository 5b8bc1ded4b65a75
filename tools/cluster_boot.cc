#include "tools/cluster_boot.h"

#include <stdlib.h>

#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/bytes.h"
#include "dsm/region/region.h"
#include "kernel/boot/boot.h"
#include "node/daemon.h"
#include "tools/cluster_view.h"
#include "tools/local_cluster.h"
#include "tools/spread_table.h"

namespace tools {
namespace {

// The per-node table after the guest: this node's counters straight from its
// Daemon, the others' over the control plane.
std::string spread_table(const node::ClusterConfig& config, node::Daemon& self,
                         const std::string& self_name, rpc::control::ControlClient& client) {
  std::vector<SpreadRow> rows;
  for (const node::NodeConfig& n : config.nodes) {
    if (n.name == self_name) {
      rows.push_back({n.name, self.stats()});
    } else {
      // One retry: a node busy serving the last faults may answer late.
      auto st = client.stats(n.control, std::chrono::milliseconds(2000));
      if (!st.ok()) st = client.stats(n.control, std::chrono::milliseconds(3000));
      rows.push_back({n.name, std::move(st)});
    }
  }
  return format_spread_table(rows);
}

base::StatusOr<int> boot_as(const node::ClusterConfig& config, const std::string& name,
                            const kernel::boot::BootOptions& boot,
                            const ClusterBootOptions& options, rpc::control::ControlClient& client,
                            LocalCluster* local) {
  auto daemon = TRY(node::Daemon::Create(config, name));
  TRY(daemon->wait_for_peers(options.peers_timeout));
  if (options.report && local) {
    std::fputs(format_cluster_table(local->settled_view()).c_str(), options.report_to);
  }
  dsm::Region& region = daemon->region();
  if (options.report) {
    std::string names;
    for (const auto& n : config.nodes) names += (names.empty() ? "" : ", ") + n.name;
    std::fputs(
        fmt::format("guest RAM {} ({} frames) spread over {} nodes ({}), protocol {}, "
                    "placement {}; {} primary\n",
                    base::format_size(region.size_bytes()), region.frames(), config.nodes.size(),
                    names, region.config().protocol, region.config().placement, name)
            .c_str(),
        options.report_to);
    std::fflush(options.report_to);
  }
  auto status = kernel::boot::boot(boot, region.frame_store());
  if (options.report) {
    std::fflush(stdout);
    std::fputs(spread_table(config, *daemon, name, client).c_str(), options.report_to);
    std::fflush(options.report_to);
  }
  return status;
}

}  // namespace

base::StatusOr<int> boot_on_cluster(const kernel::boot::BootOptions& boot,
                                    const ClusterBootOptions& options) {
  if (!boot.config_file.empty()) {
    if (boot.local_nodes) return base::Error("give --config or --local-nodes, not both", EINVAL);
    node::ClusterConfig config = TRY(node::load_config(boot.config_file));
    std::string name = options.name;
    if (name.empty()) {
      const node::NodeConfig* primary = config.primary();
      if (!primary) {
        return base::Error(fmt::format("{}: no node is primary = true; name this node with --name",
                                       boot.config_file),
                           EINVAL);
      }
      name = primary->name;
    }
    auto client = TRY(rpc::control::ControlClient::Create());
    return boot_as(config, name, boot, options, *client, nullptr);
  }

  // --local-nodes N: N-1 node processes and this one, on loopback.
  char tmpl[] = "/tmp/pangaea-boot-XXXXXX";
  if (!mkdtemp(tmpl)) return base::Error::from_errno("mkdtemp");
  std::string dir = tmpl;
  const uint64_t frames = boot.memory_bytes / base::kPageSize;
  const uint64_t n = static_cast<uint64_t>(boot.local_nodes);
  LocalClusterOptions lo;
  lo.nodes = boot.local_nodes;
  lo.dir = dir;
  lo.memory_per_node = (frames + n - 1) / n * base::kPageSize;
  lo.guest_memory = frames * base::kPageSize;
  lo.log_level = options.log_level;
  lo.external_primary = true;
  lo.up_timeout = options.peers_timeout;
  auto cluster = LocalCluster::Start(lo);
  if (!cluster.ok()) return std::move(cluster).error();  // logs stay in dir
  auto status = boot_as((*cluster)->config(), (*cluster)->config().nodes[0].name, boot, options,
                        (*cluster)->client(), cluster->get());
  auto stopped = (*cluster)->stop();
  cluster->reset();
  if (!stopped.ok()) {
    spdlog::warn("local nodes: {} (logs in {})", stopped.error().message(), dir);
  } else {
    if (options.report) {
      std::fputs(fmt::format("{} local nodes stopped cleanly\n", boot.local_nodes - 1).c_str(),
                 options.report_to);
    }
    if (status.ok()) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  }
  if (!status.ok()) {
    return base::Error(fmt::format("{} (node logs in {})", status.error().message(), dir),
                       status.error().code());
  }
  return status;
}

}  // namespace tools
