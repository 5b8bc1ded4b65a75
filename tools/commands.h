#pragma once
// Each `pangaea` subcommand lives in its own tools/<name>_command.cc and
// registers itself on the CLI11 app through one of these functions; main.cc
// calls them all. A command's callback sets the process exit status through
// the returned reference it is given.

namespace CLI {
class App;
}

namespace tools {

// `exit_code` outlives the app; a command stores its result there.
void add_node_command(CLI::App& app, int& exit_code);
void add_up_command(CLI::App& app, int& exit_code);
void add_down_command(CLI::App& app, int& exit_code);
void add_status_command(CLI::App& app, int& exit_code);
void add_stats_command(CLI::App& app, int& exit_code);
void add_boot_command(CLI::App& app, int& exit_code);
void add_ctl_command(CLI::App& app, int& exit_code);
void add_bench_command(CLI::App& app, int& exit_code);
void add_run_command(CLI::App& app, int& exit_code);

}  // namespace tools
