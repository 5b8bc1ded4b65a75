// `pangaea run [--nodes N] [--mem SIZE] [-- cmd args...]`: the demo. Builds a
// busybox rootfs, boots the guest with its RAM spread over N local nodes
// (this process as the primary, tools/cluster_boot.h), runs an init script
// that touches guest memory and shows /proc/meminfo, then a shell when stdin
// is a terminal, or `cmd args...`; prints the per-node table of the guest's
// frames and stops everything. The exit status is the guest's.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "tools/commands.h"
#include "tools/exit_codes.h"

#ifdef PANGAEA_HAVE_BOOT_COMMAND
#include "kernel/boot/boot.h"
#include "tools/cluster_boot.h"
#endif

namespace tools {

namespace {

namespace fs = std::filesystem;

constexpr const char* kBusybox = "/bin/busybox";

// The guest's /init: what `pangaea run` shows, then the command (or shell).
constexpr const char* kInit = R"SH(#!/bin/sh
# pangaea run's init: show where the guest's memory is, then run "$@".
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
echo "guest: $(uname -sr), hostname $(hostname)"
grep -E '^(MemTotal|MemFree):' /proc/meminfo
echo "guest: holding 16 MiB in a shell variable ..."
held=$(head -c 16777216 /dev/zero | tr '\0' 'x')
echo "guest: ${#held} bytes held"
grep -E '^(MemTotal|MemFree):' /proc/meminfo
if [ $# -gt 0 ]; then
  "$@"
  exit $?
fi
exit 0
)SH";

base::Status write_text(const std::string& path, const std::string& text, fs::perms perms) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) return base::Error(fmt::format("cannot write {}", path));
  std::error_code ec;
  fs::permissions(path, perms, ec);
  if (ec) return base::Error(fmt::format("chmod {}: {}", path, ec.message()));
  return {};
}

// A directory with busybox, a link per applet (from `busybox --list-full`)
// and /init.
base::Status make_rootfs(const std::string& root) {
  std::error_code ec;
  if (!fs::exists(kBusybox)) {
    return base::Error(
        fmt::format("{} not found: install busybox-static (apt-get install busybox-static)",
                    kBusybox),
        ENOENT);
  }
  for (const char* d :
       {"bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "dev", "tmp", "root"}) {
    fs::create_directories(fs::path(root) / d, ec);
    if (ec) return base::Error(fmt::format("mkdir {}/{}: {}", root, d, ec.message()));
  }
  fs::copy_file(kBusybox, fs::path(root) / "bin/busybox", fs::copy_options::overwrite_existing, ec);
  if (ec) return base::Error(fmt::format("copy {}: {}", kBusybox, ec.message()));
  FILE* list = popen("/bin/busybox --list-full", "r");
  if (!list) return base::Error::from_errno("busybox --list-full");
  char line[256];
  while (fgets(line, sizeof(line), list)) {
    std::string applet(line);
    while (!applet.empty() && (applet.back() == '\n' || applet.back() == '\r')) applet.pop_back();
    if (applet.empty() || applet == "bin/busybox") continue;
    // Absolute links resolve inside the guest's root.
    fs::create_symlink("/bin/busybox", fs::path(root) / applet, ec);
    ec.clear();
  }
  pclose(list);
  TRY(write_text(root + "/etc/hostname", "pangaea\n", fs::perms(0644)));
  TRY(write_text(root + "/init", kInit, fs::perms(0755)));
  return {};
}

}  // namespace

void add_run_command(CLI::App& app, int& exit_code) {
  struct Options {
    int nodes = 3;
    std::string mem = "192M";
    std::vector<std::string> command;
    bool keep = false;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "run",
      "The demo: boot a busybox guest whose RAM is spread over local nodes, show the spread, "
      "then a shell (stdin a terminal) or the command after --");
  cmd->add_option("--nodes", opts->nodes, "Number of local nodes, this one included (default 3)")
      ->check(CLI::Range(1, 16))
      ->type_name("N");
  cmd->add_option("--mem", opts->mem, "Guest RAM, as mem= (default 192M)")->type_name("SIZE");
  cmd->add_flag("--keep", opts->keep, "Keep the rootfs directory (it is printed)");
  cmd->add_option("command", opts->command, "Command to run in the guest (after --)");
  cmd->footer("Example: pangaea run -- /bin/sh -c 'free; cat /proc/meminfo'");
  cmd->callback([opts, &exit_code] {
#ifndef PANGAEA_HAVE_BOOT_COMMAND
    std::fprintf(stderr, "pangaea run: this build has no `pangaea boot`\n");
    exit_code = kExitFailure;
#else
    char tmpl[] = "/tmp/pangaea-run-XXXXXX";
    if (!mkdtemp(tmpl)) {
      std::perror("pangaea run: mkdtemp");
      exit_code = kExitFailure;
      return;
    }
    std::string dir = tmpl;
    std::string root = dir + "/rootfs";
    if (auto st = make_rootfs(root); !st.ok()) {
      std::fprintf(stderr, "pangaea run: rootfs: %s\n", st.error().message().c_str());
      std::error_code ec;
      fs::remove_all(dir, ec);
      exit_code = kExitFailure;
      return;
    }
    std::vector<std::string> command = opts->command;
    if (command.empty() && isatty(0)) command = {"/bin/sh"};
    std::vector<std::string> args = {"mem=" + opts->mem,
                                     "root=/dev/root",
                                     "rootfstype=hostfs",
                                     "rootflags=" + root,
                                     "init=/init",
                                     "con0=fd:0,fd:1",
                                     fmt::format("--local-nodes={}", opts->nodes)};
    if (!command.empty()) {
      args.push_back("--");
      args.insert(args.end(), command.begin(), command.end());
    }
    std::printf("pangaea run: busybox rootfs in %s; %d local nodes\n", root.c_str(), opts->nodes);
    std::fflush(stdout);
    ClusterBootOptions co;
    co.report = true;
    co.report_to = stdout;
    exit_code = kernel::boot::boot_main(
        args, [co](const kernel::boot::BootOptions& o) { return boot_on_cluster(o, co); });
    if (!opts->keep) {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
#endif
  });
}

}  // namespace tools
