#pragma once
// Every x86-64 syscall number and name (for the table, --strace and docs).

#include <utility>
#include <vector>

namespace kernel::syscalls {

const std::vector<std::pair<int, const char*>>& syscall_names();

}  // namespace kernel::syscalls
