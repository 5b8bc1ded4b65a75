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

#include <algorithm>

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
  (void)p;
  k.exit_thread(t, (arg_int(a.a[0]) & 0xff) << 8);
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
  (void)k, (void)p, (void)a;
  return t.tid;
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
  task::Process* q = k.find(pid);
  if (!q) return Errno(ESRCH);
  return q->pgid;
}

PANGAEA_SYSCALL(setpgid) {
  int pid = arg_int(a.a[0]), pgid = arg_int(a.a[1]);
  if (pgid < 0) return Errno(EINVAL);
  task::Process* q = pid == 0 ? &p : k.find(pid);
  if (!q || (q != &p && q->ppid != p.pid)) return Errno(ESRCH);
  q->pgid = pgid == 0 ? q->pid : pgid;
  return 0;
}

PANGAEA_SYSCALL(getsid) {
  int pid = arg_int(a.a[0]);
  if (pid == 0) return p.sid;
  task::Process* q = k.find(pid);
  if (!q) return Errno(ESRCH);
  return q->sid;
}

PANGAEA_SYSCALL(setsid) {
  (void)k, (void)a;
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
      t.regs.fs_base = addr;
      return 0;
    case ARCH_SET_GS:
      if (addr >= platform::kGuestTop) return Errno(EPERM);
      t.regs.gs_base = addr;
      return 0;
    case ARCH_GET_FS:
      TRY(p.mm->copy_out(mm::UserPtr<uint64_t>(addr), static_cast<uint64_t>(t.regs.fs_base)));
      return 0;
    case ARCH_GET_GS:
      TRY(p.mm->copy_out(mm::UserPtr<uint64_t>(addr), static_cast<uint64_t>(t.regs.gs_base)));
      return 0;
    default:
      return Errno(EINVAL);
  }
}

PANGAEA_SYSCALL(set_tid_address) {
  (void)k, (void)p;
  t.clear_child_tid = a.a[0];
  return t.tid;
}

PANGAEA_SYSCALL(set_robust_list) {
  (void)k, (void)p;
  if (a.a[1] != 24) return Errno(EINVAL);
  t.robust_list = a.a[0];  // walked when the thread exits or execs
  return 0;
}

PANGAEA_SYSCALL(get_robust_list) {
  (void)k;
  int tid = arg_int(a.a[0]);
  if (tid != 0 && tid != t.tid && !k.find_thread(tid)) return Errno(ESRCH);
  task::Thread* target = tid == 0 ? &t : k.find_thread(tid);
  TRY(p.mm->copy_out(mm::UserPtr<uint64_t>(a.a[1]), target->robust_list));
  TRY(p.mm->copy_out(mm::UserPtr<uint64_t>(a.a[2]), uint64_t{24}));
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
  uint64_t old = t.sigmask;
  if (a.a[1]) {
    uint64_t set = TRY(p.mm->copy_in(mm::UserPtr<uint64_t>(a.a[1])));
    switch (arg_int(a.a[0])) {
      case SIG_BLOCK:
        t.sigmask |= set;
        break;
      case SIG_UNBLOCK:
        t.sigmask &= ~set;
        break;
      case SIG_SETMASK:
        t.sigmask = set;
        break;
      default:
        return Errno(EINVAL);
    }
    t.sigmask &= ~((1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1)));
  }
  if (a.a[2]) TRY(p.mm->copy_out(mm::UserPtr<uint64_t>(a.a[2]), old));
  return 0;
}

PANGAEA_SYSCALL(clone) {
  (void)p;
  return static_cast<uint64_t>(TRY(k.clone(t, a.a[0], a.a[1], a.a[2], a.a[3], a.a[4])));
}

PANGAEA_SYSCALL(clone3) {
  // struct clone_args (Linux 5.3+): the fields up to tls (64 bytes) are
  // honoured; set_tid and cgroup must be unused.
  struct CloneArgs {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
    uint64_t set_tid, set_tid_size, cgroup;
  };
  uint64_t size = a.a[1];
  if (size < 64 || size > 4096) return Errno(EINVAL);
  CloneArgs ca = {};
  TRY(p.mm->copy_in(a.a[0], &ca, std::min<uint64_t>(size, sizeof(ca))));
  if (ca.exit_signal > 64 || (ca.exit_signal & ~uint64_t{CSIGNAL})) return Errno(EINVAL);
  if ((ca.flags & CSIGNAL) || ca.set_tid || ca.set_tid_size || (ca.flags >> 32))
    return Errno(EINVAL);
  if ((ca.flags & CLONE_THREAD) && ca.exit_signal) return Errno(EINVAL);
  if ((ca.stack == 0) != (ca.stack_size == 0)) return Errno(EINVAL);
  uint64_t sp = ca.stack ? ca.stack + ca.stack_size : 0;
  return static_cast<uint64_t>(
      TRY(k.clone(t, ca.flags | ca.exit_signal, sp, ca.parent_tid, ca.child_tid, ca.tls)));
}

PANGAEA_SYSCALL(fork) {
  (void)a, (void)p;
  return static_cast<uint64_t>(TRY(k.clone(t, SIGCHLD, 0, 0, 0, 0)));
}

PANGAEA_SYSCALL(vfork) {
  (void)a, (void)p;
  return static_cast<uint64_t>(TRY(k.clone(t, CLONE_VFORK | CLONE_VM | SIGCHLD, 0, 0, 0, 0)));
}

PANGAEA_SYSCALL(execve) {
  std::string path = TRY(at_path(k, p, AT_FDCWD, a.a[0]));
  auto argv = TRY(copy_in_strv(p, a.a[1]));
  auto envp = TRY(copy_in_strv(p, a.a[2]));
  TRY(k.execve(t, path, std::move(argv), std::move(envp)));
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
    if (!c->zombie()) continue;
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
  t.state = task::Thread::State::kBlocked;
  t.waiting = task::Thread::Wait::kChild;
  return Errno(kRestart);
}

PANGAEA_SYSCALL(kill) {
  int pid = arg_int(a.a[0]), sig = arg_int(a.a[1]);
  if (sig < 0 || sig > 64) return Errno(EINVAL);
  std::vector<task::Process*> targets;
  if (pid > 0) {
    // A thread's tid names its process here, as in Linux.
    task::Thread* th = k.find_thread(pid);
    if (task::Process* target = th ? th->process : k.find(pid)) targets.push_back(target);
  } else {
    int pgid = pid == 0 ? p.pgid : -pid;
    for (task::Process* q : k.children_of(-1))
      if (!q->zombie() && (pid == -1 ? (q->pid != 1 && q != &p) : q->pgid == pgid))
        targets.push_back(q);
  }
  if (targets.empty()) return Errno(ESRCH);
  siginfo_t si = {};
  si.si_code = SI_USER;
  si.si_pid = p.pid;
  for (task::Process* target : targets) k.signal(*target, sig, &si);
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
    if (!c->zombie()) continue;
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
  t.state = task::Thread::State::kBlocked;
  t.waiting = task::Thread::Wait::kChild;
  return Errno(kRestart);
}

PANGAEA_SYSCALL(futex) {
  constexpr int kPrivate = 128, kClockRealtime = 256;
  constexpr int kWait = 0, kWake = 1, kRequeue = 3, kCmpRequeue = 4, kWaitBitset = 9,
                kWakeBitset = 10;
  int op = arg_int(a.a[1]);
  int cmd = op & ~(kPrivate | kClockRealtime);
  uint32_t val = static_cast<uint32_t>(a.a[2]);
  switch (cmd) {
    case kWait:
    case kWaitBitset: {
      uint32_t bitset = cmd == kWait ? ~0u : static_cast<uint32_t>(a.a[5]);
      uint64_t deadline = 0;
      if (a.a[3] && !t.futex_key.second) {
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
      return k.futex_wait(t, a.a[0], val, bitset, deadline, op & kPrivate);
    }
    case kWake:
    case kWakeBitset:
      return k.futex_wake(p, a.a[0], val, cmd == kWake ? ~0u : static_cast<uint32_t>(a.a[5]),
                          op & kPrivate);
    case kRequeue:
    case kCmpRequeue:
      // The timeout argument slot carries the count to requeue.
      return k.futex_requeue(p, a.a[0], a.a[4], val, static_cast<uint32_t>(a.a[3]),
                             cmd == kCmpRequeue, static_cast<uint32_t>(a.a[5]), op & kPrivate);
    default:
      return Errno(ENOSYS);
  }
}

PANGAEA_SYSCALL(tgkill) {
  int tgid = arg_int(a.a[0]), tid = arg_int(a.a[1]), sig = arg_int(a.a[2]);
  if (sig < 0 || sig > 64 || tgid <= 0 || tid <= 0) return Errno(EINVAL);
  task::Thread* target = k.find_thread(tid);
  if (!target || target->process->pid != tgid) return Errno(ESRCH);
  siginfo_t si = {};
  si.si_code = SI_TKILL;
  si.si_pid = p.pid;
  if (sig) k.signal_thread(*target, sig, &si);
  return 0;
}

PANGAEA_SYSCALL(tkill) {
  int tid = arg_int(a.a[0]), sig = arg_int(a.a[1]);
  if (sig < 0 || sig > 64 || tid <= 0) return Errno(EINVAL);
  task::Thread* target = k.find_thread(tid);
  if (!target) return Errno(ESRCH);
  siginfo_t si = {};
  si.si_code = SI_TKILL;
  si.si_pid = p.pid;
  if (sig) k.signal_thread(*target, sig, &si);
  return 0;
}

PANGAEA_SYSCALL(rt_sigreturn) {
  if (!task::restore_frame(t).ok()) {
    k.exit_process(p, SIGSEGV);
    return 0;
  }
  (void)a;
  return t.regs.rax;  // the interrupted code's rax, unchanged
}

PANGAEA_SYSCALL(sigaltstack) {
  (void)k;
  struct GuestStack {
    uint64_t sp;
    int32_t flags;
    int32_t pad;
    uint64_t size;
  };
  bool on = t.altstack.ss_size && t.regs.rsp > t.altstack.ss_sp &&
            t.regs.rsp <= t.altstack.ss_sp + t.altstack.ss_size;
  GuestStack old = {t.altstack.ss_sp, on ? SS_ONSTACK : t.altstack.ss_flags, 0, t.altstack.ss_size};
  if (a.a[0]) {
    GuestStack ns = TRY(p.mm->copy_in(mm::UserPtr<GuestStack>(a.a[0])));
    if (on) return Errno(EPERM);
    int mode = ns.flags & ~(1 << 31);  // SS_AUTODISARM accepted, not honoured
    if (mode != 0 && mode != SS_DISABLE && mode != SS_ONSTACK) return Errno(EINVAL);
    if (mode == SS_DISABLE) {
      t.altstack = {};
    } else {
      if (ns.size < 2048) return Errno(ENOMEM);
      t.altstack.ss_sp = ns.sp;
      t.altstack.ss_size = ns.size;
      t.altstack.ss_flags = 0;
    }
  }
  if (a.a[1]) TRY(p.mm->copy_out(mm::UserPtr<GuestStack>(a.a[1]), old));
  return 0;
}

PANGAEA_SYSCALL(rt_sigsuspend) {
  (void)k;
  if (a.a[1] != 8) return Errno(EINVAL);
  uint64_t mask = TRY(p.mm->copy_in(mm::UserPtr<uint64_t>(a.a[0])));
  if (!t.has_saved_sigmask) {
    t.saved_sigmask = t.sigmask;
    t.has_saved_sigmask = true;
  }
  t.sigmask = mask & ~(task::sigbit(SIGKILL) | task::sigbit(SIGSTOP));
  if ((t.pending | p.pending) & ~t.sigmask) return Errno(EINTR);
  t.state = task::Thread::State::kBlocked;
  t.waiting = task::Thread::Wait::kSignal;
  return Errno(kRestart);
}

PANGAEA_SYSCALL(pause) {
  (void)k, (void)a;
  if ((t.pending | p.pending) & ~t.sigmask) return Errno(EINTR);
  t.state = task::Thread::State::kBlocked;
  t.waiting = task::Thread::Wait::kSignal;
  return Errno(kRestart);
}

PANGAEA_SYSCALL(rt_sigtimedwait) {
  (void)k;
  if (a.a[3] != 8) return Errno(EINVAL);
  uint64_t set = TRY(p.mm->copy_in(mm::UserPtr<uint64_t>(a.a[0])));
  set &= ~(task::sigbit(SIGKILL) | task::sigbit(SIGSTOP));
  // Thread-directed signals first, then the process's; the lowest number.
  uint64_t own = t.pending & set, shared = p.pending & set;
  if (own | shared) {
    int sig = __builtin_ctzll(own ? own : shared) + 1;
    siginfo_t si;
    if (own) {
      t.pending &= ~task::sigbit(sig);
      si = t.pending_info[sig];
    } else {
      p.pending &= ~task::sigbit(sig);
      si = p.pending_info[sig];
    }
    t.sigwait_set = 0;
    if (a.a[1]) TRY(p.mm->copy_out(mm::UserPtr<siginfo_t>(a.a[1]), si));
    return static_cast<uint64_t>(sig);
  }
  if (a.a[2] && !t.sleep_deadline) {  // the first dispatch: the relative timeout
    struct timespec ts = TRY(p.mm->copy_in(mm::UserPtr<struct timespec>(a.a[2])));
    if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000) return Errno(EINVAL);
    uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
    if (ns == 0) return Errno(EAGAIN);
    t.sleep_deadline = task::Kernel::now_ns() + ns;
  }
  if (t.sleep_deadline && task::Kernel::now_ns() >= t.sleep_deadline) {
    t.sigwait_set = 0;
    return Errno(EAGAIN);
  }
  // Woken by a signal of the set (the call runs again and takes it), by a
  // handled signal (EINTR) or by the timeout.
  t.sigwait_set = set;
  t.state = task::Thread::State::kBlocked;
  t.waiting = task::Thread::Wait::kSignal;
  return Errno(kRestart);
}

PANGAEA_SYSCALL(rt_sigpending) {
  (void)k;
  if (a.a[1] != 8) return Errno(EINVAL);
  uint64_t pend = (t.pending | p.pending) & t.sigmask;
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
