#pragma once
// Signal delivery on the x86-64 Linux ABI: a handler runs on an rt_sigframe
// built on the guest stack (or the alternate stack), with the interrupted
// registers and the FP state (fxsave layout) saved in the frame;
// rt_sigreturn restores them. The kernel-side layouts below are Linux's
// (struct rt_sigframe, ucontext, sigcontext), not glibc's.
//
// Threads: the kernel thread only.

#include <signal.h>

#include <cstdint>

#include "base/result.h"
#include "kernel/task/process.h"

namespace kernel::task {

struct KSigcontext {
  uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
  uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
  uint16_t cs, gs, fs, ss;
  uint64_t err, trapno, oldmask, cr2;
  uint64_t fpstate;  // guest address of the fxsave area, or 0
  uint64_t reserved1[8];
};
static_assert(sizeof(KSigcontext) == 256);

struct KStack {
  uint64_t ss_sp;
  int32_t ss_flags;
  int32_t pad;
  uint64_t ss_size;
};
static_assert(sizeof(KStack) == 24);

struct KUcontext {
  uint64_t uc_flags;
  uint64_t uc_link;
  KStack uc_stack;
  KSigcontext uc_mcontext;
  uint64_t uc_sigmask;
};

struct KRtSigframe {
  uint64_t pretcode;  // sa_restorer: the handler's return address
  KUcontext uc;
  siginfo_t info;
};

inline uint64_t sigbit(int sig) { return 1ull << (sig - 1); }

enum class DefaultAction { kTerminate, kCore, kIgnore, kStop, kContinue };
DefaultAction default_action(int sig);

// Builds the frame for `sig` (with `info`) and points t's registers at the
// handler. EFAULT when the frame cannot be written (the caller then kills t's process
// with SIGSEGV, as Linux does).
base::Result<void> setup_frame(Thread& t, int sig, const siginfo_t& info);
// rt_sigreturn: restores registers, mask and FP state from the frame at the
// guest's stack pointer.
base::Result<void> restore_frame(Thread& t);

}  // namespace kernel::task
