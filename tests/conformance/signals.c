// Signals: handlers on an rt_sigframe, siginfo, masks and pending signals,
// sigsuspend, SIGCHLD, default actions, SA_RESTART, the alternate stack,
// a SIGSEGV handler that longjmps out, FP state kept across a handler.
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static volatile sig_atomic_t got_usr1, got_usr2, got_chld, usr1_code, usr1_pid_ok;
static volatile uintptr_t handler_sp;
static sigjmp_buf segv_jump;
static volatile double fp_sink;

static void on_usr1(int sig, siginfo_t* si, void* uc) {
  (void)uc;
  got_usr1 = sig;
  usr1_code = si->si_code;
  usr1_pid_ok = si->si_pid == getpid();
  // Clobber the FP registers: the interrupted code must not notice.
  volatile double x = 1.0;
  for (int i = 0; i < 10; ++i) x = x * 3.7 + 0.5;
  fp_sink = x;
}
static void on_usr2(int sig) { got_usr2 = sig; }
static void on_chld(int sig) { got_chld = sig; }
static void on_segv(int sig) {
  (void)sig;
  siglongjmp(segv_jump, 1);
}
static void on_alt(int sig) {
  int local;
  (void)sig;
  handler_sp = (uintptr_t)&local;
}

int main(void) {
  struct sigaction sa = {0};
  sa.sa_sigaction = on_usr1;
  sa.sa_flags = SA_SIGINFO;
  CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
  volatile double before = 2.5;
  double kept = before * 1.5;
  CHECK(raise(SIGUSR1) == 0);
  CHECK(got_usr1 == SIGUSR1 && usr1_code == SI_TKILL && usr1_pid_ok);
  CHECK(kept == before * 1.5);

  // Blocked signals wait; unblocking delivers them.
  signal(SIGUSR2, on_usr2);
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  CHECK(sigprocmask(SIG_BLOCK, &set, &old) == 0);
  CHECK(kill(getpid(), SIGUSR2) == 0);
  CHECK(got_usr2 == 0);
  sigset_t pend;
  CHECK(sigpending(&pend) == 0 && sigismember(&pend, SIGUSR2));
  CHECK(sigprocmask(SIG_SETMASK, &old, NULL) == 0);
  CHECK(got_usr2 == SIGUSR2);

  // SIGCHLD and sigsuspend.
  signal(SIGCHLD, on_chld);
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, &old);
  pid_t c = fork();
  if (c == 0) _exit(4);
  sigset_t wait_mask;
  sigemptyset(&wait_mask);
  while (!got_chld) sigsuspend(&wait_mask);
  sigprocmask(SIG_SETMASK, &old, NULL);
  int status;
  CHECK(got_chld == SIGCHLD);
  CHECK(waitpid(c, &status, 0) == c && WIFEXITED(status) && WEXITSTATUS(status) == 4);
  signal(SIGCHLD, SIG_DFL);

  // Default action: terminate a child blocked in pause().
  c = fork();
  if (c == 0) {
    for (;;) pause();
  }
  CHECK(kill(c, SIGTERM) == 0);
  CHECK(waitpid(c, &status, 0) == c && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);

  // Job control: stop, report with WUNTRACED, continue, end.
  c = fork();
  if (c == 0) {
    for (;;) pause();
  }
  CHECK(kill(c, SIGSTOP) == 0);
  CHECK(waitpid(c, &status, WUNTRACED) == c && WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP);
  CHECK(kill(c, SIGCONT) == 0);
  CHECK(kill(c, SIGTERM) == 0);
  CHECK(waitpid(c, &status, 0) == c && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);

  // SA_RESTART: a read cut by a handled signal goes on.
  int fds[2];
  CHECK(pipe(fds) == 0);
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigaction(SIGUSR1, &sa, NULL);
  got_usr1 = 0;
  c = fork();
  if (c == 0) {
    kill(getppid(), SIGUSR1);
    write(fds[1], "r", 1);
    _exit(0);
  }
  char ch = 0;
  CHECK(read(fds[0], &ch, 1) == 1 && ch == 'r');
  CHECK(got_usr1 == SIGUSR1);
  waitpid(c, &status, 0);

  // SIG_IGN SIGPIPE: EPIPE instead of death.
  signal(SIGPIPE, SIG_IGN);
  close(fds[0]);
  CHECK(write(fds[1], "x", 1) == -1 && errno == EPIPE);
  close(fds[1]);

  // A SIGSEGV handler can longjmp out of a bad access.
  signal(SIGSEGV, on_segv);
  volatile int caught = 0;
  if (sigsetjmp(segv_jump, 1) == 0) {
    *(volatile int*)16 = 1;
  } else {
    caught = 1;
  }
  CHECK(caught);

  // The alternate stack.
  static char alt[65536];
  stack_t ss = {.ss_sp = alt, .ss_size = sizeof(alt), .ss_flags = 0};
  CHECK(sigaltstack(&ss, NULL) == 0);
  struct sigaction as = {0};
  as.sa_handler = on_alt;
  as.sa_flags = SA_ONSTACK;
  sigaction(SIGUSR2, &as, NULL);
  raise(SIGUSR2);
  CHECK(handler_sp > (uintptr_t)alt && handler_sp < (uintptr_t)alt + sizeof(alt));

  // An unhandled SIGSEGV kills with SIGSEGV.
  c = fork();
  if (c == 0) {
    signal(SIGSEGV, SIG_DFL);
    *(volatile int*)16 = 1;
    _exit(0);
  }
  CHECK(waitpid(c, &status, 0) == c && WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
  return DONE();
}
