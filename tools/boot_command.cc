// `pangaea boot [options] [UML args] [-- cmd...]`: boot the guest on this host.
//
// The UML-style arguments (mem=, root=, rootflags=, init=, con0=...) are not
// CLI11 options: the subcommand is a prefix command, so everything from the
// first one on is handed over untouched to kernel::boot::parse_boot_args,
// which also understands the --options when they come after UML arguments.

#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "base/log.h"
#include "kernel/boot/boot.h"
#include "tools/cluster_boot.h"
#include "tools/commands.h"
#include "tools/exit_codes.h"

namespace tools {

namespace {
struct BootFlags {
  bool strace = false;
  int local_nodes = 0;
  std::string config;
  std::string syscall_table;
  std::string name;         // --name: this node of --config
  bool node_stats = false;  // --node-stats: the spread table after the guest
};
}  // namespace

void add_boot_command(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<BootFlags>();
  CLI::App* cmd =
      app.add_subcommand("boot",
                         "Boot the guest on this host (UML's command line: mem= root=/dev/root "
                         "rootfstype=hostfs rootflags=DIR init= con0=fd:0,fd:1 ... [-- cmd args])");
  cmd->footer(
      "Example: pangaea boot mem=256M root=/dev/root rootfstype=hostfs rootflags=/srv/rootfs "
      "-- /bin/sh -c 'echo hi'\nThe exit status is init's; a guest power-off gives 0. "
      "Put at least one UML argument before `--`.");
  // A prefix command: UML arguments and the command after `--` reach us as is.
  cmd->fallthrough(false);
  cmd->prefix_command();
  cmd->allow_extras();
  cmd->add_flag("--strace", flags->strace, "Print every guest syscall with arguments and result");
  cmd->add_option("--local-nodes", flags->local_nodes,
                  "Spread guest RAM (mem=) over N local nodes: this one and N-1 started here")
      ->type_name("N");
  cmd->add_option("--config", flags->config,
                  "Spread guest RAM ([guest] memory) over the cluster of FILE, as its primary")
      ->type_name("FILE");
  cmd->add_option("--name", flags->name, "With --config: this node's name (default: the primary)")
      ->type_name("NAME");
  cmd->add_flag("--node-stats", flags->node_stats,
                "With a cluster: print the per-node table of the guest's frames after the guest");
  cmd->add_option("--syscall-table", flags->syscall_table,
                  "Write the syscall table as Markdown to FILE ('-': stdout) and exit")
      ->type_name("FILE");
  cmd->callback([cmd, flags, &exit_code] {
    std::vector<std::string> args;
    if (flags->strace) args.push_back("--strace");
    if (flags->local_nodes) args.push_back("--local-nodes=" + std::to_string(flags->local_nodes));
    if (!flags->config.empty()) args.push_back("--config=" + flags->config);
    if (!flags->syscall_table.empty()) args.push_back("--syscall-table=" + flags->syscall_table);
    std::vector<std::string> rest = cmd->remaining();
    for (size_t i = 0; i < rest.size(); ++i) {
      // main's --log-level, when it follows the UML arguments.
      if (rest[i] == "--log-level" && i + 1 < rest.size()) {
        (void)base::setup_logging(rest[++i]);
        continue;
      }
      args.push_back(rest[i]);
      if (rest[i] == "--") {
        args.insert(args.end(), rest.begin() + i + 1, rest.end());
        break;
      }
    }
    tools::ClusterBootOptions co;
    co.name = flags->name;
    co.report = flags->node_stats;
    exit_code = kernel::boot::boot_main(
        args, [co](const kernel::boot::BootOptions& o) { return boot_on_cluster(o, co); });
  });
}

}  // namespace tools
