#pragma once
// The syscall table: one entry per x86-64 syscall number with its name, its
// handler and its support status (after gVisor's linux64.go). A number with
// no handler returns ENOSYS and is logged once. docs/syscalls.md is
// generated from this table (`pangaea boot --syscall-table`).
//
// Handlers return Result<uint64_t>; only the dispatcher turns an error into
// -errno. A handler that must wait sets the calling thread Blocked and returns
// kRestart: the dispatcher leaves the syscall pending and runs it again from
// the start when the thread is woken.

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace kernel::task {
class Kernel;
struct Process;
struct Thread;
}  // namespace kernel::task

namespace kernel::syscalls {

using base::Errno;
using base::Result;

inline constexpr int kRestart = 512;  // Linux's ERESTARTSYS, never seen by the guest

struct SyscallArgs {
  uint64_t a[6];
};

using Handler = Result<uint64_t> (*)(task::Kernel&, task::Process&, task::Thread&,
                                     const SyscallArgs&);

enum class Support { kSupported, kPartial, kNone };

struct SyscallInfo {
  int nr = -1;
  const char* name = nullptr;
  Handler handler = nullptr;
  Support support = Support::kNone;
  const char* note = "";
  // --strace argument formats, one letter per argument: d decimal, x hex,
  // s string, o octal.
  const char* args = "";
};

// The entry for `nr`, or null when it is no x86-64 syscall.
const SyscallInfo* find_syscall(uint64_t nr);
// Every known number, ascending.
const std::vector<SyscallInfo>& all_syscalls();
// Names in the implementation list that match no syscall (a typo): for tests.
std::vector<std::string> unmatched_table_names();
// docs/syscalls.md.
std::string syscall_table_markdown();

}  // namespace kernel::syscalls
