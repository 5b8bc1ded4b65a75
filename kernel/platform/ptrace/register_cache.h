#pragma once
// RegisterCache: the registers of one stopped stub thread as the tracer last
// read them, so that resuming the thread writes only what the kernel changed.
// A guest syscall usually changes rax alone (its result): that is one
// PTRACE_POKEUSER instead of a PTRACE_SETREGS of the whole set, and a stop
// the kernel answers without a change (a fault it resolved) writes nothing.
// PTRACE_SETREGS is still used when anything else changed (signal frames,
// sigreturn, exec, a restarted call).
//
// Valid only while nothing else writes the thread's registers: whoever does
// (an injected syscall) calls forget().
//
// Threads: the tracer thread of the stub (ptrace rule).

#include <stddef.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

#include "base/result.h"
#include "kernel/platform/platform.h"

namespace kernel::platform {

class RegisterCache {
 public:
  // After a stop: the thread's registers, remembered.
  base::Result<void> load(pid_t tid, Registers& regs) {
    if (call(PTRACE_GETREGS, tid, 0, &regs) < 0) {
      valid_ = false;
      return base::Errno::last();
    }
    last_ = regs;
    valid_ = true;
    return {};
  }

  // Before resuming: makes the thread's registers `regs` with the fewest
  // ptrace calls.
  base::Result<void> store(pid_t tid, const Registers& regs) {
    if (valid_) {
      Registers diff = regs;
      diff.rax = last_.rax;
      if (std::memcmp(&diff, &last_, sizeof(Registers)) == 0) {
        if (regs.rax == last_.rax) return {};
        if (call(PTRACE_POKEUSER, tid, offsetof(Registers, rax),
                 reinterpret_cast<void*>(regs.rax)) == 0) {
          last_.rax = regs.rax;
          return {};
        }
      }
    }
    if (call(PTRACE_SETREGS, tid, 0, &regs) < 0) {
      valid_ = false;
      return base::Errno::last();
    }
    last_ = regs;
    valid_ = true;
    return {};
  }

  void forget() { valid_ = false; }

 private:
  static long call(int req, pid_t tid, uint64_t addr, const void* data) {
    return ::syscall(SYS_ptrace, req, tid, addr, data);
  }
  Registers last_{};
  bool valid_ = false;
};

}  // namespace kernel::platform
