// `pangaea ctl UMID CMD...`: the mconsole client. The mconsole itself lives
// with the guest kernel (devices/); until it exists this command says so.

#include <cstdio>

#include <CLI/CLI.hpp>

#include "tools/commands.h"
#include "tools/exit_codes.h"

namespace tools {

void add_ctl_command(CLI::App& app, int& exit_code) {
  struct Options {
    std::string umid;
    std::vector<std::string> command;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("ctl", "mconsole client: send CMD to the guest UMID");
  cmd->add_option("umid", opts->umid, "The guest's umid")->required();
  cmd->add_option("command", opts->command, "The mconsole command and its arguments")->required();
  cmd->callback([opts, &exit_code] {
    std::fprintf(stderr,
                 "pangaea ctl: no mconsole for \"%s\": the guest kernel and its mconsole are not "
                 "built yet\n",
                 opts->umid.c_str());
    exit_code = kExitFailure;
  });
}

}  // namespace tools
