#pragma once
// Shared by the file syscall files: names the kernel serves itself (/proc,
// /dev/null..., the console) and stat of any guest path.

#include <sys/stat.h>

#include <string>

#include "kernel/syscalls/table.h"
#include "kernel/task/kernel.h"

namespace kernel::syscalls {

bool kernel_served_path(const std::string& path);
Result<struct stat> stat_guest_path(task::Kernel& k, task::Process& p, const std::string& path,
                                    bool follow);

}  // namespace kernel::syscalls
