// `pangaea node --config F --name N`: run one node until SIGTERM/SIGINT or a
// control-plane shutdown.

#include <cstdio>

#include <CLI/CLI.hpp>

#include "node/config.h"
#include "node/daemon.h"
#include "tools/commands.h"
#include "tools/exit_codes.h"

namespace tools {

void add_node_command(CLI::App& app, int& exit_code) {
  struct Options {
    std::string config;
    std::string name;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "node", "Run one node: contribute memory, serve the DSM and the control plane");
  cmd->add_option("--config", opts->config, "cluster.toml")->required()->type_name("FILE");
  cmd->add_option("--name", opts->name, "This node's name in the config")
      ->required()
      ->type_name("NAME");
  cmd->callback([opts, &exit_code] {
    // Before any thread exists, so every thread inherits the blocked mask
    // and the stop signals reach the daemon's signalfd only.
    auto blocked = node::Daemon::block_stop_signals();
    if (!blocked.ok()) {
      std::fprintf(stderr, "pangaea node: %s\n", blocked.error().message().c_str());
      exit_code = kExitFailure;
      return;
    }
    auto config = node::load_config(opts->config);
    if (!config.ok()) {
      std::fprintf(stderr, "pangaea node: %s\n", config.error().message().c_str());
      exit_code = kExitUsage;
      return;
    }
    if (config->index_of(opts->name) < 0) {
      std::fprintf(stderr, "pangaea node: %s: no node named \"%s\"\n", opts->config.c_str(),
                   opts->name.c_str());
      exit_code = kExitUsage;
      return;
    }
    auto daemon = node::Daemon::Create(*config, opts->name);
    if (!daemon.ok()) {
      std::fprintf(stderr, "pangaea node %s: %s\n", opts->name.c_str(),
                   daemon.error().message().c_str());
      exit_code = kExitFailure;
      return;
    }
    auto ran = (*daemon)->run();
    daemon->reset();  // the clean teardown
    if (!ran.ok()) {
      std::fprintf(stderr, "pangaea node %s: %s\n", opts->name.c_str(),
                   ran.error().message().c_str());
      exit_code = kExitFailure;
      return;
    }
    exit_code = kExitOk;
  });
}

}  // namespace tools
