// Time: alarm and SIGALRM, an interval timer, nanosleep of a child while
// the parent goes on, and poll timing out on a pipe. Timers also fire while
// guest code spins, with or without syscalls that never block (getpid): an
// alarm reaches a spinning process, and a sleeping child wakes and exits
// while its parent spins.
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static volatile sig_atomic_t alarms;
static void on_alarm(int sig) {
  (void)sig;
  alarms++;
}

static volatile sig_atomic_t children;
static void on_child(int sig) {
  (void)sig;
  children++;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void) {
  // A vDSO for the clocks, as Linux gives every process, and its clocks agree
  // with the syscall's.
  CHECK(getauxval(AT_SYSINFO_EHDR) != 0);
  struct timespec v, sc;
  CHECK(clock_gettime(CLOCK_MONOTONIC, &v) == 0);
  CHECK(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &sc) == 0);
  CHECK(sc.tv_sec - v.tv_sec < 2 && (sc.tv_sec > v.tv_sec || sc.tv_nsec >= v.tv_nsec));
  struct timeval tv;
  CHECK(gettimeofday(&tv, NULL) == 0);
  CHECK(syscall(SYS_clock_gettime, CLOCK_REALTIME, &sc) == 0);
  CHECK(sc.tv_sec - tv.tv_sec < 2 && sc.tv_sec >= tv.tv_sec);

  signal(SIGALRM, on_alarm);
  CHECK(alarm(1) == 0);
  CHECK(alarm(1) == 1);  // about one second left of the first
  pause();
  CHECK(alarms == 1);

  struct itimerval it = {{0, 20000}, {0, 20000}};
  CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
  while (alarms < 4) pause();
  struct itimerval off = {{0, 0}, {0, 0}}, old;
  CHECK(setitimer(ITIMER_REAL, &off, &old) == 0 && old.it_interval.tv_usec == 20000);
  CHECK(alarms == 4);

  // A sleeping child does not stop its parent.
  double t0 = now();
  pid_t c = fork();
  if (c == 0) {
    struct timespec ts = {0, 200000000};
    nanosleep(&ts, NULL);
    _exit(9);
  }
  double before_wait = now() - t0;
  CHECK(before_wait < 0.18);  // well before the child's 0.2 s sleep ends
  int status;
  CHECK(waitpid(c, &status, 0) == c && WEXITSTATUS(status) == 9);
  CHECK(now() - t0 >= 0.19);

  int fds[2];
  CHECK(pipe(fds) == 0);
  struct pollfd pf = {fds[0], POLLIN, 0};
  t0 = now();
  CHECK(poll(&pf, 1, 100) == 0);
  CHECK(now() - t0 >= 0.09);
  // An alarm reaches a process that spins in getpid, and one that spins
  // without syscalls.
  CHECK(alarm(1) == 0);
  long calls = 0;
  while (alarms == 4) {
    syscall(SYS_getpid);
    calls++;
  }
  CHECK(alarms == 5 && calls > 0);
  CHECK(alarm(1) == 0);
  while (alarms == 5) {
  }
  CHECK(alarms == 6);

  // A child's sleep ends while its parent spins in getpid.
  signal(SIGCHLD, on_child);
  c = fork();
  if (c == 0) {
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    _exit(3);
  }
  while (children == 0) syscall(SYS_getpid);
  CHECK(waitpid(c, &status, 0) == c && WEXITSTATUS(status) == 3);
  signal(SIGCHLD, SIG_DFL);
  signal(SIGALRM, SIG_DFL);
  return DONE();
}
