#pragma once
// /proc of the guest: made by the kernel from its own tables, never the
// host's. /proc/self, /proc/PID/{cmdline,comm,stat,status,maps,exe,cwd,fd/N},
// /proc/meminfo (the guest's RAM, i.e. the frame store's), /proc/cpuinfo,
// /proc/uptime, /proc/version, /proc/mounts, /proc/loadavg.
//
// Threads: the kernel thread only.

#include <sys/stat.h>

#include <memory>
#include <string>

#include "base/result.h"
#include "kernel/fs/file.h"

namespace kernel::task {

class Kernel;
struct Process;

// True for "/proc" and everything under it (a lexically normalized path).
bool is_proc_path(const std::string& path);

struct ProcOpen {
  std::shared_ptr<fs::File> file;  // set, or:
  std::string redirect;            // a guest path to open instead (/proc/PID/exe)
};
base::Result<ProcOpen> proc_open(Kernel& k, Process& p, const std::string& path, int flags);
base::Result<struct stat> proc_stat(Kernel& k, Process& p, const std::string& path, bool follow);
base::Result<std::string> proc_readlink(Kernel& k, Process& p, const std::string& path);

}  // namespace kernel::task
