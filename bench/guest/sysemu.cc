// The raw PTRACE_SYSEMU round trip (guest_bench.h): a tracer and a tracee
// that loops on getpid. Under PTRACE_SYSEMU each syscall stops the tracee at
// entry without running it; the tracer resumes it at once with PTRACE_SYSEMU.
// One round trip = one ptrace(PTRACE_SYSEMU) + one waitpid. This is the
// least a ptrace kernel can spend on a guest syscall.

#include <signal.h>
#include <stddef.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "bench/guest/guest_bench.h"

namespace bench {

namespace {

uint64_t now_ns() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

bool wait_stop(pid_t pid) {
  int status;
  while (::waitpid(pid, &status, __WALL) < 0) {
    if (errno != EINTR) return false;
  }
  return WIFSTOPPED(status);
}

// `n` round trips; with `regs`, also GETREGS and a POKEUSER of rax at each
// stop: the least a kernel must do to read the call and write its result.
base::StatusOr<double> round_trips(pid_t pid, int n, bool regs) {
  user_regs_struct r;
  uint64_t t0 = now_ns();
  for (int i = 0; i < n; ++i) {
    if (regs) {
      if (::ptrace(PTRACE_GETREGS, pid, nullptr, &r) < 0 ||
          ::ptrace(PTRACE_POKEUSER, pid, offsetof(user_regs_struct, rax),
                   reinterpret_cast<void*>(r.rax)) < 0)
        return base::Error::from_errno("PTRACE_GETREGS/POKEUSER");
    }
    if (::ptrace(PTRACE_SYSEMU, pid, nullptr, nullptr) < 0)
      return base::Error::from_errno("PTRACE_SYSEMU");
    if (!wait_stop(pid)) return base::Error("the SYSEMU tracee did not stop");
  }
  return static_cast<double>(now_ns() - t0) / n;
}

}  // namespace

base::StatusOr<SysemuResult> measure_sysemu(int iterations) {
  pid_t pid = ::fork();
  if (pid < 0) return base::Error::from_errno("fork");
  if (pid == 0) {
    // Async-signal-safe calls only.
    if (::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) < 0) ::_exit(125);
    ::raise(SIGSTOP);
    for (;;) ::syscall(SYS_getpid);
  }
  auto finish = [pid] {
    ::kill(pid, SIGKILL);
    int st;
    while (::waitpid(pid, &st, __WALL) < 0 && errno == EINTR) {
    }
  };
  if (!wait_stop(pid)) {
    finish();
    return base::Error("the SYSEMU tracee did not stop");
  }
  if (::ptrace(PTRACE_SETOPTIONS, pid, nullptr, PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD) < 0) {
    auto e = base::Error::from_errno("PTRACE_SETOPTIONS");
    finish();
    return e;
  }
  int n = std::max(iterations, 1);
  SysemuResult out{1e300, 1e300};
  for (bool regs : {false, true}) {
    double& best = regs ? out.regs_ns : out.raw_ns;
    if (auto w = round_trips(pid, std::max(n / 10, 1), regs); !w.ok()) {
      finish();
      return w.error();
    }
    for (int round = 0; round < 3; ++round) {
      auto t = round_trips(pid, n, regs);
      if (!t.ok()) {
        finish();
        return t.error();
      }
      best = std::min(best, *t);
    }
  }
  finish();
  return out;
}

}  // namespace bench
