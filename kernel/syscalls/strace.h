#pragma once
// --strace: one line per guest syscall, "[pid] name(args) = result".

#include <string>

#include "kernel/mm/memory_manager.h"
#include "kernel/syscalls/table.h"

namespace kernel::syscalls {

// "name(arg, ...)"; string arguments are read from guest memory (at most 64
// bytes shown); an unknown number prints as syscall_NNN.
std::string format_call(const SyscallInfo* info, uint64_t nr, const SyscallArgs& a,
                        mm::MemoryManager* mm);
// "= 3", "= -1 ENOENT (No such file or directory)", "= 0x7f..." for addresses.
std::string format_result(const SyscallInfo* info, const Result<uint64_t>& r);

}  // namespace kernel::syscalls
