// `pangaea status --config F [--from NAME]`: the cluster table, or one node's
// own membership table. Exit 0 when every node is up, 1 otherwise.

#include <cstdio>

#include <CLI/CLI.hpp>

#include "node/config.h"
#include "rpc/control/client.h"
#include "tools/cluster_view.h"
#include "tools/commands.h"
#include "tools/exit_codes.h"

namespace tools {

void add_status_command(CLI::App& app, int& exit_code) {
  struct Options {
    std::string config;
    std::string from;
    int timeout_ms = 1000;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "status", "The cluster table: nodes, addresses, memory given/used, up/down, RTT");
  cmd->add_option("--config", opts->config, "cluster.toml")->required()->type_name("FILE");
  cmd->add_option("--from", opts->from, "Show the membership table as node NAME sees it")
      ->type_name("NAME");
  cmd->add_option("--timeout", opts->timeout_ms,
                  "Milliseconds to wait for each node (default 1000)")
      ->check(CLI::Range(1, 60000))
      ->type_name("MS");
  cmd->callback([opts, &exit_code] {
    auto config = node::load_config(opts->config);
    if (!config.ok()) {
      std::fprintf(stderr, "pangaea status: %s\n", config.error().message().c_str());
      exit_code = kExitUsage;
      return;
    }
    auto client = rpc::control::ControlClient::Create();
    if (!client.ok()) {
      std::fprintf(stderr, "pangaea status: %s\n", client.error().message().c_str());
      exit_code = kExitFailure;
      return;
    }
    std::chrono::milliseconds timeout(opts->timeout_ms);
    if (!opts->from.empty()) {
      const node::NodeConfig* n = config->find(opts->from);
      if (!n) {
        std::fprintf(stderr, "pangaea status: %s: no node named \"%s\"\n", opts->config.c_str(),
                     opts->from.c_str());
        exit_code = kExitUsage;
        return;
      }
      auto s = (*client)->status(n->control, timeout);
      if (!s.ok()) {
        std::fprintf(stderr, "pangaea status: node %s does not answer: %s\n", n->name.c_str(),
                     s.error().message().c_str());
        exit_code = kExitFailure;
        return;
      }
      std::fputs(format_node_view(*s).c_str(), stdout);
      bool all = true;
      for (const auto& p : s->peers) all = all && p.up;
      exit_code = all ? kExitOk : kExitFailure;
      return;
    }
    ClusterView view = query_cluster(*config, **client, timeout);
    std::fputs(format_cluster_table(view).c_str(), stdout);
    exit_code = view.all_up() ? kExitOk : kExitFailure;
  });
}

}  // namespace tools
