#include "kernel/boot/boot.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "base/bytes.h"
#include "dsm/local/local_frame_store.h"
#include "kernel/syscalls/table.h"
#include "kernel/task/kernel.h"

namespace kernel::boot {

base::StatusOr<int> boot(const BootOptions& o) {
  auto store = dsm::LocalFrameStore::Create(o.memory_bytes / base::kPageSize);
  if (!store.ok()) return store.error();
  return boot(o, **store);
}

base::StatusOr<int> boot(const BootOptions& o, dsm::FrameStore& frames) {
  task::KernelConfig config;
  config.root_dir = o.root_dir;
  config.strace = o.strace;
  config.console_in = o.console_in;
  config.console_out = o.console_out;
  config.console_err = o.console_err;
  if (!o.umid.empty()) config.hostname = o.umid;
  auto kernel = task::Kernel::Create(config, frames);
  if (!kernel.ok()) return kernel.error();
  std::vector<std::string> argv = {o.init};
  argv.insert(argv.end(), o.init_argv.begin(), o.init_argv.end());
  std::vector<std::string> envp = {"HOME=/", "TERM=linux"};
  envp.insert(envp.end(), o.init_env.begin(), o.init_env.end());
  if (!o.init.empty()) return (*kernel)->run(o.init, argv, envp);
  // Linux's search when init= is not given.
  for (const char* init : {"/sbin/init", "/etc/init", "/bin/init", "/bin/sh"}) {
    argv[0] = init;
    auto r = (*kernel)->run(init, argv, envp);
    if (r.ok() || r.error().code() != ENOENT) return r;
  }
  return base::Error("no init found (tried /sbin/init, /etc/init, /bin/init, /bin/sh)", ENOENT);
}

int boot_main(const std::vector<std::string>& args, const ClusterBoot& cluster) {
  auto o = parse_boot_args(args);
  if (!o.ok()) {
    fmt::print(stderr, "pangaea boot: {}\n", o.error().message());
    return 2;
  }
  if (o->print_syscall_table) {
    std::string md = syscalls::syscall_table_markdown();
    if (o->syscall_table == "-") {
      fmt::print("{}", md);
      return 0;
    }
    FILE* f = std::fopen(o->syscall_table.c_str(), "w");
    if (!f || std::fwrite(md.data(), 1, md.size(), f) != md.size()) {
      fmt::print(stderr, "pangaea boot: cannot write {}\n", o->syscall_table);
      if (f) std::fclose(f);
      return 1;
    }
    std::fclose(f);
    return 0;
  }
  for (const auto& note : o->notes) fmt::print(stderr, "pangaea boot: note: {}\n", note);
  bool spread = cluster && (o->local_nodes || !o->config_file.empty());
  auto status = spread ? cluster(*o) : boot(*o);
  if (!status.ok()) {
    fmt::print(stderr, "pangaea boot: {}\n", status.error().message());
    return 1;
  }
  return *status;
}

}  // namespace kernel::boot
