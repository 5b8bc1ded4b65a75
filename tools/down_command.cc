// `pangaea down [--dir D]`: stop a local cluster started with `up --detach`.

#include <cstdio>

#include <CLI/CLI.hpp>

#include "tools/commands.h"
#include "tools/exit_codes.h"
#include "tools/local_cluster.h"

namespace tools {

void add_down_command(CLI::App& app, int& exit_code) {
  auto dir = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "down", "Stop a local cluster started with `pangaea up --local N --detach`");
  cmd->add_option("--dir", *dir, "Its run directory; default " + default_run_dir())
      ->type_name("DIR");
  cmd->callback([dir, &exit_code] {
    auto cluster = LocalCluster::Attach(dir->empty() ? default_run_dir() : *dir);
    if (!cluster.ok()) {
      std::fprintf(stderr, "pangaea down: %s\n", cluster.error().message().c_str());
      exit_code = kExitFailure;
      return;
    }
    size_t n = (*cluster)->config().nodes.size();
    auto stopped = (*cluster)->stop();
    if (!stopped.ok()) {
      std::fprintf(stderr, "pangaea down: %s\n", stopped.error().message().c_str());
      exit_code = kExitFailure;
      return;
    }
    std::printf("stopped the local cluster in %s (%zu nodes)\n", (*cluster)->dir().c_str(), n);
    exit_code = kExitOk;
  });
}

}  // namespace tools
