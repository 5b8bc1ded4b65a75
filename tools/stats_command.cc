// `pangaea stats --config F [--node NAME]`: every counter each node keeps.

#include <cstdio>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "node/config.h"
#include "rpc/control/client.h"
#include "tools/commands.h"
#include "tools/exit_codes.h"

namespace tools {

void add_stats_command(CLI::App& app, int& exit_code) {
  struct Options {
    std::string config;
    std::string node;
    std::string group;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "stats", "Counters of each node (transport, membership, page store, guest-memory region)");
  cmd->add_option("--config", opts->config, "cluster.toml")->required()->type_name("FILE");
  cmd->add_option("--node", opts->node, "Only this node")->type_name("NAME");
  cmd->add_option("--group", opts->group,
                  "Only counters of this group and its subgroups (e.g. region, region.latency, "
                  "transport)")
      ->type_name("GROUP");
  cmd->callback([opts, &exit_code] {
    auto config = node::load_config(opts->config);
    if (!config.ok()) {
      std::fprintf(stderr, "pangaea stats: %s\n", config.error().message().c_str());
      exit_code = kExitUsage;
      return;
    }
    if (!opts->node.empty() && !config->find(opts->node)) {
      std::fprintf(stderr, "pangaea stats: %s: no node named \"%s\"\n", opts->config.c_str(),
                   opts->node.c_str());
      exit_code = kExitUsage;
      return;
    }
    auto client = rpc::control::ControlClient::Create();
    if (!client.ok()) {
      std::fprintf(stderr, "pangaea stats: %s\n", client.error().message().c_str());
      exit_code = kExitFailure;
      return;
    }
    exit_code = kExitOk;
    for (const auto& n : config->nodes) {
      if (!opts->node.empty() && n.name != opts->node) continue;
      auto st = (*client)->stats(n.control);
      if (!st.ok()) {
        std::printf("%s: down (%s)\n", n.name.c_str(), st.error().message().c_str());
        exit_code = kExitFailure;
        continue;
      }
      std::printf("%s:\n", n.name.c_str());
      for (const auto& c : st->counters) {
        const bool in_group = opts->group.empty() || c.group == opts->group ||
                              c.group.rfind(opts->group + ".", 0) == 0;
        if (!in_group) continue;
        std::fputs(fmt::format("  {:<28} {:<26} {}\n", c.group, c.name, c.value).c_str(), stdout);
      }
    }
  });
}

}  // namespace tools
