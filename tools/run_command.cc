// `pangaea run`: the demo. Until the guest kernel boots, it starts a local
// 3-node cluster, prints its table and stops it cleanly.

#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <CLI/CLI.hpp>

#include "tools/commands.h"
#include "tools/exit_codes.h"
#include "tools/local_cluster.h"

namespace tools {

void add_run_command(CLI::App& app, int& exit_code) {
  auto nodes = std::make_shared<int>(3);
  CLI::App* cmd = app.add_subcommand("run", "The demo: start a local cluster, show it, stop it");
  cmd->add_option("--nodes", *nodes, "Number of local nodes (default 3)")
      ->check(CLI::Range(1, 16))
      ->type_name("N");
  cmd->callback([nodes, &exit_code] {
    // Ctrl-C is held until the cluster is stopped again, so an interrupted
    // demo still stops its nodes in order and removes its directory.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    char tmpl[] = "/tmp/pangaea-run-XXXXXX";
    if (!mkdtemp(tmpl)) {
      std::perror("pangaea run: mkdtemp");
      exit_code = kExitFailure;
      return;
    }
    std::string dir = tmpl;
    std::printf("starting a local %d-node cluster in %s\n", *nodes, dir.c_str());
    std::fflush(stdout);
    LocalClusterOptions lo;
    lo.nodes = *nodes;
    lo.dir = dir;
    auto cluster = LocalCluster::Start(lo);
    if (!cluster.ok()) {
      std::fprintf(stderr, "pangaea run: %s\n", cluster.error().message().c_str());
      exit_code = kExitFailure;  // the logs stay in dir for a look
      return;
    }
    std::fputs(format_cluster_table((*cluster)->settled_view()).c_str(), stdout);
    std::printf("stopping...\n");
    std::fflush(stdout);
    auto stopped = (*cluster)->stop();
    if (!stopped.ok()) {
      std::fprintf(stderr, "pangaea run: %s (logs in %s)\n", stopped.error().message().c_str(),
                   dir.c_str());
      exit_code = kExitFailure;
      return;
    }
    cluster->reset();
    std::filesystem::remove_all(dir);
    std::printf("stopped cleanly\n");
    sigset_t pending;
    sigpending(&pending);
    bool interrupted = sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM);
    exit_code = interrupted ? 128 + SIGINT : kExitOk;
  });
}

}  // namespace tools
