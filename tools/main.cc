// `pangaea`: one binary, one subcommand per tools/<name>_command.cc.
//
// Exit status: 0 success, 1 the command failed, 2 a usage error (unknown
// flag or subcommand, bad value, bad config file).

#include <cstdio>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>

#include "base/log.h"
#include "tools/commands.h"
#include "tools/exit_codes.h"

int main(int argc, char** argv) {
  // Quiet by default: warnings and errors only, on stderr.
  (void)base::setup_logging("warn");

  CLI::App app("Pangaea: one Linux guest whose memory is spread over several machines.", "pangaea");
  // Options of the top level (--log-level) may also follow the subcommand.
  app.fallthrough();
  app.add_option_function<std::string>(
         "--log-level",
         [](const std::string& level) {
           auto st = base::setup_logging(level);
           if (!st.ok()) throw CLI::ValidationError("--log-level", st.error().message());
         },
         "Log level: trace, debug, info, warn, error, off (default warn)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->type_name("LEVEL");

  int exit_code = tools::kExitOk;
#ifdef PANGAEA_HAVE_NODE_COMMAND
  tools::add_node_command(app, exit_code);
#endif
  tools::add_up_command(app, exit_code);
  tools::add_down_command(app, exit_code);
  tools::add_status_command(app, exit_code);
  tools::add_stats_command(app, exit_code);
#ifdef PANGAEA_HAVE_BOOT_COMMAND
  tools::add_boot_command(app, exit_code);
#endif
  tools::add_ctl_command(app, exit_code);
#ifdef PANGAEA_HAVE_BENCH_COMMAND
  tools::add_bench_command(app, exit_code);
#endif
  tools::add_run_command(app, exit_code);

  try {
    app.parse(argc, argv);
    if (app.get_subcommands().empty()) {
      std::fprintf(stderr, "pangaea: a subcommand is required\n%s", app.help().c_str());
      return tools::kExitUsage;
    }
  } catch (const CLI::ExtrasError& e) {
    // CLI11 says "not expected"; say what it is.
    std::fprintf(
        stderr, "pangaea: unknown subcommand or flag (%s)\nRun with --help for more information.\n",
        e.what());
    return tools::kExitUsage;
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);  // prints help or the message
    // CLI11 has its own codes per kind of error; ours are 0 for --help and
    // 2 for every usage error.
    return code == 0 ? tools::kExitOk : tools::kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pangaea: %s\n", e.what());
    return tools::kExitFailure;
  }
  return exit_code;
}
