#include "kernel/boot/boot_options.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <string_view>

#include "base/bytes.h"

namespace kernel::boot {
namespace {

// Bare words Linux or UML take as kernel parameters.
constexpr std::array<std::string_view, 10> kBareKernelWords = {
    "rw",    "ro",       "quiet",       "debug",  "single",
    "nosmp", "noreboot", "earlyprintk", "splash", "emergency"};
// k=v parameters accepted and ignored (no effect on this kernel).
constexpr std::array<std::string_view, 8> kIgnoredKeys = {
    "console", "loglevel", "panic", "eth0", "eth1", "devfs", "initcall_debug", "ignore_loglevel"};

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// con0=fd:0,fd:1 / con=fd:0,fd:1 / con0=fd:3
base::Status parse_console(std::string_view v, BootOptions& o) {
  auto fd_of = [](std::string_view s, int& fd) {
    if (!starts_with(s, "fd:")) return false;
    s.remove_prefix(3);
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), fd);
    return ec == std::errc() && p == s.data() + s.size() && fd >= 0;
  };
  size_t comma = v.find(',');
  int in, out;
  if (comma == std::string_view::npos) {
    if (!fd_of(v, in))
      return base::Error(fmt::format("console '{}': only fd:N is supported", v), EINVAL);
    out = in;
  } else if (!fd_of(v.substr(0, comma), in) || !fd_of(v.substr(comma + 1), out)) {
    return base::Error(fmt::format("console '{}': only fd:IN,fd:OUT is supported", v), EINVAL);
  }
  o.console_in = in;
  o.console_out = out;
  o.console_err = out;  // as UML: the console is one device for 0, 1 and 2
  return {};
}

}  // namespace

base::StatusOr<BootOptions> parse_boot_args(const std::vector<std::string>& args) {
  BootOptions o;
  std::string rootfstype, root = "/dev/root", rootflags, hostfs;
  std::vector<std::string> command;
  bool in_command = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (in_command) {
      command.push_back(a);
      continue;
    }
    if (a == "--") {
      in_command = true;
      continue;
    }
    if (starts_with(a, "--")) {
      auto value = [&](std::string_view name) -> base::StatusOr<std::string> {
        if (a.size() > name.size() && a[name.size()] == '=') return a.substr(name.size() + 1);
        if (i + 1 >= args.size()) return base::Error(fmt::format("{} needs a value", name), EINVAL);
        return args[++i];
      };
      if (a == "--strace") {
        o.strace = true;
      } else if (starts_with(a, "--local-nodes")) {
        auto v = value("--local-nodes");
        if (!v.ok()) return v.error();
        auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), o.local_nodes);
        if (ec != std::errc() || p != v->data() + v->size() || o.local_nodes < 1)
          return base::Error(fmt::format("--local-nodes '{}': want a count >= 1", *v), EINVAL);
      } else if (starts_with(a, "--config")) {
        auto v = value("--config");
        if (!v.ok()) return v.error();
        o.config_file = *v;
      } else if (starts_with(a, "--syscall-table")) {
        o.print_syscall_table = true;
        o.syscall_table = a.size() > 16 && a[15] == '=' ? a.substr(16) : "-";
      } else {
        return base::Error(fmt::format("unknown boot option '{}'", a), EINVAL);
      }
      continue;
    }
    size_t eq = a.find('=');
    std::string key = eq == std::string::npos ? a : a.substr(0, eq);
    std::string val = eq == std::string::npos ? "" : a.substr(eq + 1);
    if (eq == std::string::npos) {
      if (std::find(kBareKernelWords.begin(), kBareKernelWords.end(), a) !=
          kBareKernelWords.end()) {
        if (a == "ro") o.read_only = true;
        if (a == "rw") o.read_only = false;
        continue;
      }
      if (o.init.empty()) {
        in_command = true;  // the command to run as init
        command.push_back(a);
      } else {
        o.init_argv.push_back(a);
      }
      continue;
    }
    if (key == "mem") {
      auto size = base::parse_size(val);
      if (!size.ok())
        return base::Error(fmt::format("mem={}: {}", val, size.error().message()), EINVAL);
      if (*size < (16ull << 20))
        return base::Error(fmt::format("mem={}: at least 16M", val), EINVAL);
      o.memory_bytes = *size;
    } else if (key == "umid") {
      o.umid = val;
    } else if (key == "root") {
      root = val;
    } else if (key == "rootfstype") {
      rootfstype = val;
    } else if (key == "rootflags") {
      rootflags = val;
    } else if (key == "hostfs") {
      hostfs = val;
    } else if (key == "init") {
      o.init = val;
    } else if (key == "con" || key == "con0") {
      if (auto s = parse_console(val, o); !s.ok()) return s.error();
    } else if (starts_with(key, "con") || starts_with(key, "ssl") || starts_with(key, "ubd")) {
      o.notes.push_back(fmt::format("{}: not supported yet, ignored", a));
    } else if (std::find(kIgnoredKeys.begin(), kIgnoredKeys.end(), key) != kIgnoredKeys.end()) {
      // Accepted as Linux accepts it; nothing to do here.
    } else {
      o.init_env.push_back(a);
    }
  }
  if (!rootfstype.empty() && rootfstype != "hostfs")
    return base::Error(fmt::format("rootfstype={}: only hostfs is supported", rootfstype), EINVAL);
  if (root != "/dev/root")
    return base::Error(
        fmt::format("root={}: only root=/dev/root rootfstype=hostfs is supported", root), EINVAL);
  o.root_dir = !rootflags.empty() ? rootflags : hostfs;
  if (o.root_dir.empty() && !o.print_syscall_table)
    return base::Error("no root filesystem: give root=/dev/root rootfstype=hostfs rootflags=DIR",
                       EINVAL);
  if (!command.empty()) {
    if (o.init.empty()) {
      o.init = command[0];
      command.erase(command.begin());
    }
    o.init_argv.insert(o.init_argv.end(), command.begin(), command.end());
  }
  return o;
}

}  // namespace kernel::boot
