// `pangaea up --local N`: N nodes on loopback with a generated config, in the
// foreground until Ctrl-C (or in the background with --detach, until
// `pangaea down`).

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "base/bytes.h"
#include "base/unique_fd.h"
#include "tools/commands.h"
#include "tools/exit_codes.h"
#include "tools/local_cluster.h"

namespace tools {
namespace {

// Waits for SIGINT/SIGTERM, reporting nodes that exit meanwhile.
void wait_for_stop(LocalCluster& cluster, const sigset_t& set) {
  base::UniqueFd sfd(signalfd(-1, &set, SFD_CLOEXEC));
  if (!sfd.valid()) return;
  for (;;) {
    signalfd_siginfo info;
    if (read(sfd.get(), &info, sizeof(info)) != sizeof(info)) {
      if (errno == EINTR) continue;
      return;
    }
    if (info.ssi_signo == SIGCHLD) {
      for (const auto& name : cluster.reap_exited())
        std::fprintf(stderr, "pangaea up: node %s exited\n", name.c_str());
      continue;
    }
    return;
  }
}

}  // namespace

void add_up_command(CLI::App& app, int& exit_code) {
  struct Options {
    int local = 0;
    std::string dir;
    std::string memory = "64MiB";
    bool detach = false;
    int timeout_s = 20;
    std::string node_log_level = "info";
  };
  auto opts = std::make_shared<Options>();
  CLI::App* cmd =
      app.add_subcommand("up", "Start N nodes on this machine (loopback) with a generated config");
  cmd->add_option("--local", opts->local, "Number of nodes to start on loopback")
      ->required()
      ->check(CLI::Range(1, 64))
      ->type_name("N");
  cmd->add_option("--dir", opts->dir,
                  "Run directory (config, secret, logs); default " + default_run_dir())
      ->type_name("DIR");
  cmd->add_option("--memory-per-node", opts->memory, "Memory each node contributes (default 64MiB)")
      ->type_name("SIZE");
  cmd->add_flag("--detach", opts->detach,
                "Leave the nodes running in the background; stop them with `pangaea down`");
  cmd->add_option("--timeout", opts->timeout_s,
                  "Seconds to wait for every node to see all others (default 20)")
      ->check(CLI::Range(1, 600))
      ->type_name("SECONDS");
  cmd->add_option("--node-log-level", opts->node_log_level,
                  "Log level of the nodes, in DIR/NAME.log (default info)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->type_name("LEVEL");
  cmd->callback([opts, &exit_code] {
    auto memory = base::parse_size(opts->memory);
    if (!memory.ok() || *memory % base::kPageSize != 0) {
      std::fprintf(stderr, "pangaea up: --memory-per-node: %s\n",
                   memory.ok() ? "must be a multiple of 4 KiB" : memory.error().message().c_str());
      exit_code = kExitUsage;
      return;
    }
    // Blocked before the nodes start, so Ctrl-C is handled here, in order.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGCHLD);
    if (!opts->detach) pthread_sigmask(SIG_BLOCK, &set, nullptr);

    LocalClusterOptions lo;
    lo.nodes = opts->local;
    lo.dir = opts->dir;
    lo.memory_per_node = *memory;
    lo.detach = opts->detach;
    lo.up_timeout = std::chrono::seconds(opts->timeout_s);
    lo.log_level = opts->node_log_level;
    auto cluster = LocalCluster::Start(lo);
    if (!cluster.ok()) {
      std::fprintf(stderr, "pangaea up: %s\n", cluster.error().message().c_str());
      exit_code = kExitFailure;
      return;
    }
    LocalCluster& c = **cluster;
    std::fputs(format_cluster_table(c.settled_view()).c_str(), stdout);
    std::printf("config: %s\n", c.config_path().c_str());
    if (opts->detach) {
      std::printf("running in the background; stop with: pangaea down --dir %s\n", c.dir().c_str());
      exit_code = kExitOk;
      return;
    }
    std::printf("Ctrl-C stops the cluster.\n");
    std::fflush(stdout);
    wait_for_stop(c, set);
    std::printf("stopping...\n");
    auto stopped = c.stop();
    if (!stopped.ok()) {
      std::fprintf(stderr, "pangaea up: %s\n", stopped.error().message().c_str());
      exit_code = kExitFailure;
      return;
    }
    std::printf("stopped %d nodes\n", opts->local);
    exit_code = kExitOk;
  });
}

}  // namespace tools
