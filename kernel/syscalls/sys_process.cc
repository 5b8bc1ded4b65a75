// Process syscalls: identity, exit, fork/clone, execve, wait4, signals (as far
// as recording them), arch_prctl, reboot.

#include <asm/prctl.h>
#include <linux/reboot.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include "kernel/loader/elf_loader.h"
#include "kernel/syscalls/handlers.h"
#include "kernel/syscalls/util.h"
#include "kernel/task/signals.h"

namespace kernel::syscalls {
namespace {

constexpr size_t kMaxArgs = 1 << 16;

Result<std::vector<std::string>> copy_in_strv(task::Process& p, uint64_t addr) {
  std::vector<std::string> out;
  if (addr == 0) return out;
  size_t total = 0;  // bounded like Linux's ARG_MAX, so no guest can make us allocate much
  for (size_t i = 0;; ++i) {
    if (i >= kMaxArgs) return Errno(E2BIG);
    uint64_t s = TRY(p.mm->copy_in(mm::UserPtr<uint64_t>(addr) + i));
    if (s == 0) return out;
    auto str = p.mm->copy_in_string(s, 128 * 1024);
    if (!str.ok()) return str.error().code == ENAMETOOLONG ? Errno(E2BIG) : str.error();
    total += str->size() + 1;
    if (total > loader::kMaxArgBytes) return Errno(E2BIG);
    out.push_back(std::move(*str));
  }
}

}  // namespace

PANGAEA_SYSCALL(exit) {
  k.exit_process(p, (arg_int(a.a[0]) & 0xff) << 8);
  return 0;
}

PANGAEA_SYSCALL(exit_group) {
  k.exit_process(p, (arg_int(a.a[0]) & 0xff) << 8);
  return 0;
}

PANGAEA_SYSCALL(getpid) {
  (void)k, (void)a;
  return p.pid;
}

PANGAEA_SYSCALL(gettid) {
  (void)k, (void)a;
  return p.pid;
}

PANGAEA_SYSCALL(getppid) {
  (void)k, (void)a;
  return p.ppid;
}

PANGAEA_SYSCALL(getpgrp) {
  (void)k, (void)a;
  return p.pgid;
}

PANGAEA_SYSCALL(getpgid) {
  int pid = arg_int(a.a[0]);
  if (pid == 0) return p.pgid;
  task::Process* t = k.find(pid);
  if (!t) return Errno(ESRCH);
  return t->pgid;
}

PANGAEA_SYSCALL(setpgid) {
  int pid = arg_int(a.a[0]), pgid = arg_int(a.a[1]);
  if (pgid < 0) return Errno(EINVAL);
  task::Process* t = pid == 0 ? &p : k.find(pid);
  if (!t || (t != &p && t->ppid != p.pid)) return Errno(ESRCH);
  t->pgid = pgid == 0 ? t->pid : pgid;
  return 0;
}

PANGAEA_SYSCALL(getsid) {
  int pid = arg_int(a.a[0]);
  if (pid == 0) return p.sid;
  task::Process* t = k.find(pid);
  if (!t) return Errno(ESRCH);
  return t->sid;
}

PANGAEA_SYSCALL(setsid) {
  (void)a;
  if (p.pgid == p.pid) return Errno(EPERM);
  p.sid = p.pgid = p.pid;
  return p.pid;
}

PANGAEA_SYSCALL(getuid) {
  (void)k, (void)p, (void)a;
  return 0;
}

PANGAEA_SYSCALL(arch_prctl) {
  (void)k;
  uint64_t addr = a.a[1];
  switch (arg_int(a.a[0])) {
    case ARCH_SET_FS:
      if (addr >= platform::kGuestTop) return Errno(EPERM);
      p.regs.fs_base = addr;
      return 0;
    case ARCH_SET_GS:
      if (addr >= platform::kGuestTop) return Errno(EPERM);
      p.regs.gs_base = addr;
      return 0;
    case ARCH_GET_FS:
      TRY(p.mm->copy_out(mm::UserPtr<uint64_t>(addr), static_cast<uint64_t>(p.regs.fs_base)));
      return 0;
    case ARCH_GET_GS:
      TRY(p.mm->copy_out(mm::UserPtr<uint64_t>(addr), static_cast<uint64_t>(p.regs.gs_base)));
      return 0;
    default:
      return Errno(EINVAL);
  }
}

PANGAEA_SYSCALL(set_tid_address) {
  (void)k;
  p.clear_child_tid = a.a[0];
  return p.pid;
}

PANGAEA_SYSCALL(set_robust_list) {
  (void)k, (void)p;
  if (a.a[1] != 24) return Errno(EINVAL);
  return 0;
}

PANGAEA_SYSCALL(rt_sigaction) {
  (void)k;
  int sig = arg_int(a.a[0]);
  if (a.a[3] != 8 || sig < 1 || sig > 64) return Errno(EINVAL);
  if (a.a[1] && (sig == SIGKILL || sig == SIGSTOP)) return Errno(EINVAL);
  task::GuestSigaction old = p.sigactions[sig];
  if (a.a[1]) p.sigactions[sig] = TRY(p.mm->copy_in(mm::UserPtr<task::GuestSigaction>(a.a[1])));
  if (a.a[2]) TRY(p.mm->copy_out(mm::UserPtr<task::GuestSigaction>(a.a[2]), old));
  return 0;
}

PANGAEA_SYSCALL(rt_sigprocmask) {
  (void)k;
  if (a.a[3] != 8) return Errno(EINVAL);
  uint64_t old = p.sigmask;
  if (a.a[1]) {
    uint64_t set = TRY(p.mm->copy_in(mm::UserPtr<uint64_t>(a.a[1])));
    switch (arg_int(a.a[0])) {
      case SIG_BLOCK:
        p.sigmask |= set;
        break;
      case SIG_UNBLOCK:
        p.sigmask &= ~set;
        break;
      case SIG_SETMASK:
        p.sigmask = set;
        break;
      default:
        return Errno(EINVAL);
    }
    p.sigmask &= ~((1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1)));
  }
  if (a.a[2]) TRY(p.mm->copy_out(mm::UserPtr<uint64_t>(a.a[2]), old));
  return 0;
}

PANGAEA_SYSCALL(clone) {
  return static_cast<uint64_t>(TRY(k.fork(p, a.a[0], a.a[1], a.a[2], a.a[3], a.a[4])));
}

PANGAEA_SYSCALL(fork) {
  (void)a;
  return static_cast<uint64_t>(TRY(k.fork(p, SIGCHLD, 0, 0, 0, 0)));
}

PANGAEA_SYSCALL(vfork) {
  (void)a;
  return static_cast<uint64_t>(TRY(k.fork(p, CLONE_VFORK | CLONE_VM | SIGCHLD, 0, 0, 0, 0)));
}

PANGAEA_SYSCALL(execve) {
  std::string path = TRY(at_path(k, p, AT_FDCWD, a.a[0]));
  auto argv = TRY(copy_in_strv(p, a.a[1]));
  auto envp = TRY(copy_in_strv(p, a.a[2]));
  TRY(k.execve(p, path, std::move(argv), std::move(envp)));
  return 0;
}

PANGAEA_SYSCALL(wait4) {
  int pid = arg_int(a.a[0]);
  int options = arg_int(a.a[2]);
  if (options & ~(WNOHANG | WUNTRACED | WCONTINUED | __WALL | __WCLONE | __WNOTHREAD))
    return Errno(EINVAL);
  bool any = false;
  for (task::Process* c : k.children_of(p.pid)) {
    bool match = pid == -1 || (pid > 0 && c->pid == pid) || (pid == 0 && c->pgid == p.pgid) ||
                 (pid < -1 && c->pgid == -pid);
    if (!match) continue;
    any = true;
    if ((options & WUNTRACED) && c->stopped && !c->stop_reported) {
      c->stop_reported = true;
      int st = 0x7f | (c->stop_signal << 8);
      if (a.a[1]) TRY(p.mm->copy_out(mm::UserPtr<int>(a.a[1]), st));
      return c->pid;
    }
    if (c->state != task::Process::State::kZombie) continue;
    int cpid = c->pid;
    if (a.a[1]) TRY(p.mm->copy_out(mm::UserPtr<int>(a.a[1]), c->wait_status));
    if (a.a[3]) {
      struct rusage ru = {};
      TRY(p.mm->copy_out(mm::UserPtr<struct rusage>(a.a[3]), ru));
    }
    k.reap(cpid);
    return cpid;
  }
  if (!any) return Errno(ECHILD);
  if (options & WNOHANG) return 0;
  p.state = task::Process::State::kBlocked;
  p.waiting = task::Process::Wait::kChild;
  return Errno(kRestart);
}

PANGAEA_SYSCALL(kill) {
  int pid = arg_int(a.a[0]), sig = arg_int(a.a[1]);
  if (sig < 0 || sig > 64) return Errno(EINVAL);
  std::vector<task::Process*> targets;
  if (pid > 0) {
    if (task::Process* t = k.find(pid)) targets.push_back(t);
  } else {
    int pgid = pid == 0 ? p.pgid : -pid;
    for (task::Process* t : k.children_of(-1))
      if (t->state != task::Process::State::kZombie &&
          (pid == -1 ? (t->pid != 1 && t != &p) : t->pgid == pgid))
        targets.push_back(t);
  }
  if (targets.empty()) return Errno(ESRCH);
  siginfo_t si = {};
  si.si_code = SI_USER;
  si.si_pid = p.pid;
  for (task::Process* t : targets) k.signal(*t, sig, &si);
  return 0;
}

PANGAEA_SYSCALL(waitid) {
  int idtype = arg_int(a.a[0]), id = arg_int(a.a[1]), options = arg_int(a.a[3]);
  if (options & ~(WNOHANG | WEXITED | WSTOPPED | WCONTINUED | WNOWAIT | __WALL | __WCLONE))
    return Errno(EINVAL);
  if (!(options & WEXITED)) return Errno(EINVAL);  // only exits are reported
  bool any = false;
  for (task::Process* c : k.children_of(p.pid)) {
    bool match = idtype == P_ALL || (idtype == P_PID && c->pid == id) ||
                 (idtype == P_PGID && c->pgid == (id ? id : p.pgid));
    if (!match) continue;
    any = true;
    if (c->state != task::Process::State::kZombie) continue;
    siginfo_t si = {};
    si.si_signo = SIGCHLD;
    si.si_pid = c->pid;
    si.si_code = WIFSIGNALED(c->wait_status) ? CLD_KILLED : CLD_EXITED;
    si.si_status =
        WIFSIGNALED(c->wait_status) ? WTERMSIG(c->wait_status) : WEXITSTATUS(c->wait_status);
    if (a.a[2]) TRY(p.mm->copy_out(mm::UserPtr<siginfo_t>(a.a[2]), si));
    if (!(options & WNOWAIT)) k.reap(c->pid);
    return 0;
  }
  if (!any) return Errno(ECHILD);
  if (options & WNOHANG) {
    if (a.a[2]) {
      siginfo_t si = {};
      TRY(p.mm->copy_out(mm::UserPtr<siginfo_t>(a.a[2]), si));
    }
    return 0;
  }
  p.state = task::Process::State::kBlocked;
  p.waiting = task::Process::Wait::kChild;
  return Errno(kRestart);
}

PANGAEA_SYSCALL(futex) {
  constexpr int kPrivate = 128, kClockRealtime = 256;
  constexpr int kWait = 0, kWake = 1, kWaitBitset = 9, kWakeBitset = 10;
  int op = arg_int(a.a[1]);
  int cmd = op & ~(kPrivate | kClockRealtime);
  uint32_t val = static_cast<uint32_t>(a.a[2]);
  switch (cmd) {
    case kWait:
    case kWaitBitset: {
      uint32_t bitset = cmd == kWait ? ~0u : static_cast<uint32_t>(a.a[5]);
      uint64_t deadline = 0;
      if (a.a[3] && !p.futex_key) {
        struct timespec ts = TRY(p.mm->copy_in(mm::UserPtr<struct timespec>(a.a[3])));
        if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000) return Errno(EINVAL);
        int64_t ns = ts.tv_sec * 1000000000ll + ts.tv_nsec;
        if (cmd == kWait) {
          deadline = task::Kernel::now_ns() + ns;  // relative
        } else {
          // Absolute, on CLOCK_MONOTONIC or (with the flag) CLOCK_REALTIME.
          struct timespec now;
          ::clock_gettime((op & kClockRealtime) ? CLOCK_REALTIME : CLOCK_MONOTONIC, &now);
          int64_t left = ns - (now.tv_sec * 1000000000ll + now.tv_nsec);
          deadline = task::Kernel::now_ns() + (left > 0 ? left : 0);
          if (left <= 0) deadline = task::Kernel::now_ns();
        }
        if (!deadline) deadline = 1;
      }
      return k.futex_wait(p, a.a[0], val, bitset, deadline);
    }
    case kWake:
    case kWakeBitset:
      return k.futex_wake(p, a.a[0], val, cmd == kWake ? ~0u : static_cast<uint32_t>(a.a[5]));
    default:
      return Errno(ENOSYS);
  }
}

PANGAEA_SYSCALL(tgkill) {
  int tgid = arg_int(a.a[0]), tid = arg_int(a.a[1]), sig = arg_int(a.a[2]);
  if (sig < 0 || sig > 64 || tgid <= 0 || tid <= 0) return Errno(EINVAL);
  task::Process* t = k.find(tid);
  if (!t || t->pid != tgid || t->state == task::Process::State::kZombie) return Errno(ESRCH);
  siginfo_t si = {};
  si.si_code = SI_TKILL;
  si.si_pid = p.pid;
  k.signal(*t, sig, &si);
  return 0;
}

PANGAEA_SYSCALL(tkill) {
  int tid = arg_int(a.a[0]), sig = arg_int(a.a[1]);
  if (sig < 0 || sig > 64 || tid <= 0) return Errno(EINVAL);
  task::Process* t = k.find(tid);
  if (!t || t->state == task::Process::State::kZombie) return Errno(ESRCH);
  siginfo_t si = {};
  si.si_code = SI_TKILL;
  si.si_pid = p.pid;
  k.signal(*t, sig, &si);
  return 0;
}

PANGAEA_SYSCALL(rt_sigreturn) {
  if (!task::restore_frame(p).ok()) {
    k.exit_process(p, SIGSEGV);
    return 0;
  }
  (void)a;
  return p.regs.rax;  // the interrupted code's rax, unchanged
}

PANGAEA_SYSCALL(sigaltstack) {
  (void)k;
  struct GuestStack {
    uint64_t sp;
    int32_t flags;
    int32_t pad;
    uint64_t size;
  };
  bool on = p.altstack.ss_size && p.regs.rsp > p.altstack.ss_sp &&
            p.regs.rsp <= p.altstack.ss_sp + p.altstack.ss_size;
  GuestStack old = {p.altstack.ss_sp, on ? SS_ONSTACK : p.altstack.ss_flags, 0, p.altstack.ss_size};
  if (a.a[0]) {
    GuestStack ns = TRY(p.mm->copy_in(mm::UserPtr<GuestStack>(a.a[0])));
    if (on) return Errno(EPERM);
    int mode = ns.flags & ~(1 << 31);  // SS_AUTODISARM accepted, not honoured
    if (mode != 0 && mode != SS_DISABLE && mode != SS_ONSTACK) return Errno(EINVAL);
    if (mode == SS_DISABLE) {
      p.altstack = {};
    } else {
      if (ns.size < 2048) return Errno(ENOMEM);
      p.altstack.ss_sp = ns.sp;
      p.altstack.ss_size = ns.size;
      p.altstack.ss_flags = 0;
    }
  }
  if (a.a[1]) TRY(p.mm->copy_out(mm::UserPtr<GuestStack>(a.a[1]), old));
  return 0;
}

PANGAEA_SYSCALL(rt_sigsuspend) {
  (void)k;
  if (a.a[1] != 8) return Errno(EINVAL);
  uint64_t mask = TRY(p.mm->copy_in(mm::UserPtr<uint64_t>(a.a[0])));
  if (!p.has_saved_sigmask) {
    p.saved_sigmask = p.sigmask;
    p.has_saved_sigmask = true;
  }
  p.sigmask = mask & ~(task::sigbit(SIGKILL) | task::sigbit(SIGSTOP));
  if (p.pending & ~p.sigmask) return Errno(EINTR);
  p.state = task::Process::State::kBlocked;
  p.waiting = task::Process::Wait::kSignal;
  return Errno(kRestart);
}

PANGAEA_SYSCALL(pause) {
  (void)k, (void)a;
  if (p.pending & ~p.sigmask) return Errno(EINTR);
  p.state = task::Process::State::kBlocked;
  p.waiting = task::Process::Wait::kSignal;
  return Errno(kRestart);
}

PANGAEA_SYSCALL(rt_sigpending) {
  (void)k;
  if (a.a[1] != 8) return Errno(EINVAL);
  uint64_t pend = p.pending & p.sigmask;
  TRY(p.mm->copy_out(mm::UserPtr<uint64_t>(a.a[0]), pend));
  return 0;
}

PANGAEA_SYSCALL(reboot) {
  (void)p;
  if (static_cast<uint32_t>(a.a[0]) != LINUX_REBOOT_MAGIC1) return Errno(EINVAL);
  uint32_t m2 = static_cast<uint32_t>(a.a[1]);
  if (m2 != LINUX_REBOOT_MAGIC2 && m2 != LINUX_REBOOT_MAGIC2A && m2 != LINUX_REBOOT_MAGIC2B &&
      m2 != LINUX_REBOOT_MAGIC2C)
    return Errno(EINVAL);
  switch (static_cast<uint32_t>(a.a[2])) {
    case LINUX_REBOOT_CMD_POWER_OFF:
    case LINUX_REBOOT_CMD_HALT:
    case LINUX_REBOOT_CMD_RESTART:
      k.power_off();
      return 0;
    case LINUX_REBOOT_CMD_CAD_ON:
    case LINUX_REBOOT_CMD_CAD_OFF:
      return 0;
    default:
      return Errno(EINVAL);
  }
}

}  // namespace kernel::syscalls

namespace kernel::syscalls {

PANGAEA_SYSCALL(prctl) {
  (void)k;
  switch (arg_int(a.a[0])) {
    case PR_SET_NAME: {
      char name[16] = {};
      for (size_t i = 0; i < 15; ++i) {
        TRY(p.mm->copy_in(a.a[1] + i, &name[i], 1));
        if (!name[i]) break;
      }
      p.comm = name;
      return 0;
    }
    case PR_GET_NAME: {
      char name[16] = {};
      p.comm.copy(name, 15);
      TRY(p.mm->copy_out(a.a[1], name, sizeof(name)));
      return 0;
    }
    case PR_SET_PDEATHSIG:
      if (a.a[1] > 64) return Errno(EINVAL);
      return 0;
    default:
      return Errno(EINVAL);
  }
}

}  // namespace kernel::syscalls
