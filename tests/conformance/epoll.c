// epoll over pipes (kernel files in the guest), AF_UNIX and TCP sockets (host
// fds in the guest) and nested epolls: readiness and event masks, the user
// data, level vs edge triggered, one-shot re-armed by EPOLL_CTL_MOD,
// timeouts, a child's late write waking a blocked wait, EINTR (never
// restarted) and epoll_pwait's mask, close removing an entry (only with the
// file's last reference), and the errors.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static int wait1(int ep, struct epoll_event* ev, int timeout) {
  return epoll_wait(ep, ev, 1, timeout);
}

static int add(int ep, int fd, uint32_t events, uint64_t data) {
  struct epoll_event ev = {0};
  ev.events = events;
  ev.data.u64 = data;
  return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static int mod(int ep, int fd, uint32_t events, uint64_t data) {
  struct epoll_event ev = {0};
  ev.events = events;
  ev.data.u64 = data;
  return epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

static long ms_since(const struct timespec* t0) {
  struct timespec t1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

// A child that writes one byte to `fd` after `ms` milliseconds.
static pid_t late_writer(int fd, int ms) {
  pid_t pid = fork();
  if (pid == 0) {
    usleep(ms * 1000);
    (void)!write(fd, "z", 1);
    _exit(0);
  }
  return pid;
}

static int reaped(pid_t pid) {
  int status = 0;
  return waitpid(pid, &status, 0) == pid && WIFEXITED(status);
}

static volatile sig_atomic_t g_alarms;
static void on_alarm(int sig) {
  (void)sig;
  g_alarms++;
}

static void arm_timer_ms(int ms) {
  struct itimerval it = {{0, 0}, {0, ms * 1000}};
  setitimer(ITIMER_REAL, &it, NULL);
}

static void test_create(void) {
  CHECK(epoll_create(0) == -1 && errno == EINVAL);
  CHECK(epoll_create(-5) == -1 && errno == EINVAL);
  CHECK(epoll_create1(12345) == -1 && errno == EINVAL);
  int a = epoll_create(1);
  CHECK(a >= 0 && !(fcntl(a, F_GETFD) & FD_CLOEXEC));
  int b = epoll_create1(EPOLL_CLOEXEC);
  CHECK(b >= 0 && (fcntl(b, F_GETFD) & FD_CLOEXEC));
  char buf[8];
  CHECK(read(a, buf, sizeof buf) == -1 && errno == EINVAL);
  close(a);
  close(b);
}

static void test_pipe_level(void) {
  int ep = epoll_create1(0), p[2];
  CHECK(pipe(p) == 0);
  struct epoll_event ev;
  CHECK(add(ep, p[0], EPOLLIN, 0x1122334455667788ull) == 0);
  CHECK(add(ep, p[0], EPOLLIN, 1) == -1 && errno == EEXIST);
  CHECK(wait1(ep, &ev, 0) == 0);
  CHECK(write(p[1], "ab", 2) == 2);
  CHECK(wait1(ep, &ev, 0) == 1 && ev.events == EPOLLIN && ev.data.u64 == 0x1122334455667788ull);
  CHECK(wait1(ep, &ev, 0) == 1 && ev.events == EPOLLIN);  // level: still ready
  char c[2];
  CHECK(read(p[0], c, 2) == 2);
  CHECK(wait1(ep, &ev, 0) == 0);
  // The write end: writable at once; EPOLLERR (and still EPOLLOUT) once no reader is left.
  CHECK(add(ep, p[1], EPOLLOUT, 2) == 0);
  CHECK(wait1(ep, &ev, 0) == 1 && ev.events == EPOLLOUT && ev.data.u64 == 2);
  CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL) == 0);
  CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL) == -1 && errno == ENOENT);
  CHECK(mod(ep, p[1], EPOLLOUT, 2) == -1 && errno == ENOENT);
  // The read end after the writer closes: EPOLLHUP, with EPOLLIN while data is left.
  CHECK(write(p[1], "x", 1) == 1);
  close(p[1]);
  CHECK(wait1(ep, &ev, 0) == 1 && ev.events == (EPOLLIN | EPOLLHUP));
  CHECK(read(p[0], c, 1) == 1);
  CHECK(wait1(ep, &ev, 0) == 1 && ev.events == EPOLLHUP);
  close(p[0]);
  CHECK(pipe(p) == 0);
  CHECK(add(ep, p[1], EPOLLOUT, 3) == 0);
  close(p[0]);
  CHECK(wait1(ep, &ev, 0) == 1 && ev.events == (EPOLLOUT | EPOLLERR) && ev.data.u64 == 3);
  close(p[1]);
  close(ep);
}

static void test_pipe_edge_oneshot(void) {
  int ep = epoll_create1(0), p[2];
  CHECK(pipe(p) == 0);
  struct epoll_event ev;
  char buf[16];
  CHECK(add(ep, p[0], EPOLLIN | EPOLLET, 7) == 0);
  CHECK(wait1(ep, &ev, 0) == 0);
  CHECK(write(p[1], "a", 1) == 1);
  CHECK(wait1(ep, &ev, 0) == 1 && ev.events == EPOLLIN && ev.data.u64 == 7);
  CHECK(wait1(ep, &ev, 0) == 0);  // edge: reported once
  CHECK(write(p[1], "b", 1) == 1);
  CHECK(wait1(ep, &ev, 0) == 1);  // a new write is a new edge
  CHECK(read(p[0], buf, sizeof buf) == 2);
  CHECK(wait1(ep, &ev, 0) == 0);
  // MOD to level-triggered: reported while ready.
  CHECK(write(p[1], "c", 1) == 1);
  CHECK(mod(ep, p[0], EPOLLIN, 8) == 0);
  CHECK(wait1(ep, &ev, 0) == 1 && ev.data.u64 == 8);
  CHECK(wait1(ep, &ev, 0) == 1 && ev.data.u64 == 8);
  // One-shot: once, then nothing until EPOLL_CTL_MOD re-arms it.
  CHECK(mod(ep, p[0], EPOLLIN | EPOLLONESHOT, 9) == 0);
  CHECK(wait1(ep, &ev, 0) == 1 && ev.data.u64 == 9);
  CHECK(wait1(ep, &ev, 0) == 0);
  CHECK(write(p[1], "d", 1) == 1);
  CHECK(wait1(ep, &ev, 0) == 0);
  CHECK(add(ep, p[0], EPOLLIN, 1) == -1 && errno == EEXIST);  // still in the set
  CHECK(mod(ep, p[0], EPOLLIN | EPOLLONESHOT, 10) == 0);
  CHECK(wait1(ep, &ev, 0) == 1 && ev.data.u64 == 10);
  CHECK(wait1(ep, &ev, 0) == 0);
  close(p[0]);
  close(p[1]);
  close(ep);
}

// maxevents smaller than the ready set: level-triggered entries take turns.
static void test_rotation(void) {
  int ep = epoll_create1(0), p[2], q[2];
  CHECK(pipe(p) == 0 && pipe(q) == 0);
  CHECK(write(p[1], "a", 1) == 1 && write(q[1], "b", 1) == 1);
  CHECK(add(ep, p[0], EPOLLIN, 1) == 0 && add(ep, q[0], EPOLLIN, 2) == 0);
  struct epoll_event ev[4];
  uint64_t seen = 0;
  CHECK(epoll_wait(ep, ev, 1, 0) == 1);
  seen |= ev[0].data.u64;
  CHECK(epoll_wait(ep, ev, 1, 0) == 1);
  seen |= ev[0].data.u64;
  CHECK(seen == 3);
  CHECK(epoll_wait(ep, ev, 4, 0) == 2 && (ev[0].data.u64 | ev[1].data.u64) == 3);
  // A socket beside a pipe (in the guest: a host fd beside a kernel file).
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 && write(sv[1], "s", 1) == 1);
  CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, q[0], NULL) == 0);
  CHECK(add(ep, sv[0], EPOLLIN, 4) == 0);
  for (int round = 0; round < 2; ++round) {
    seen = 0;
    for (int i = 0; i < 2; ++i) {
      CHECK(epoll_wait(ep, ev, 1, 0) == 1);
      seen |= ev[0].data.u64;
    }
    CHECK(seen == 5);
  }
  close(sv[0]), close(sv[1]);
  close(p[0]), close(p[1]), close(q[0]), close(q[1]), close(ep);
}

static void test_unix_socket(void) {
  int ep = epoll_create1(0), sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  struct epoll_event ev;
  char buf[16];
  CHECK(add(ep, sv[0], EPOLLIN | EPOLLOUT | EPOLLRDHUP, 42) == 0);
  CHECK(wait1(ep, &ev, 0) == 1 && ev.events == EPOLLOUT && ev.data.u64 == 42);
  CHECK(write(sv[1], "hi", 2) == 2);
  CHECK(wait1(ep, &ev, 0) == 1 && ev.events == (EPOLLIN | EPOLLOUT));
  CHECK(read(sv[0], buf, sizeof buf) == 2);
  CHECK(shutdown(sv[1], SHUT_WR) == 0);
  CHECK(wait1(ep, &ev, 0) == 1 && ev.events == (EPOLLIN | EPOLLOUT | EPOLLRDHUP));
  close(sv[1]);
  CHECK(wait1(ep, &ev, 0) == 1 && ev.events == (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLHUP));
  close(sv[0]);
  // Edge-triggered and one-shot on a socket.
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  CHECK(add(ep, sv[0], EPOLLIN | EPOLLET, 5) == 0);
  CHECK(write(sv[1], "a", 1) == 1);
  CHECK(wait1(ep, &ev, 0) == 1 && ev.events == EPOLLIN && ev.data.u64 == 5);
  CHECK(wait1(ep, &ev, 0) == 0);
  CHECK(write(sv[1], "b", 1) == 1);
  CHECK(wait1(ep, &ev, 0) == 1);
  CHECK(read(sv[0], buf, sizeof buf) == 2);
  CHECK(mod(ep, sv[0], EPOLLIN | EPOLLONESHOT, 6) == 0);
  CHECK(write(sv[1], "c", 1) == 1);
  CHECK(wait1(ep, &ev, 0) == 1 && ev.data.u64 == 6);
  CHECK(wait1(ep, &ev, 0) == 0);
  CHECK(mod(ep, sv[0], EPOLLIN | EPOLLONESHOT, 7) == 0);
  CHECK(wait1(ep, &ev, 0) == 1 && ev.data.u64 == 7);
  close(sv[0]), close(sv[1]), close(ep);
}

static void test_tcp(void) {
  int ep = epoll_create1(0);
  int lst = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sin = {0};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sin;
  CHECK(bind(lst, (struct sockaddr*)&sin, sizeof sin) == 0);
  CHECK(listen(lst, 4) == 0);
  CHECK(getsockname(lst, (struct sockaddr*)&sin, &len) == 0);
  struct epoll_event ev;
  CHECK(add(ep, lst, EPOLLIN, 100) == 0);
  CHECK(wait1(ep, &ev, 0) == 0);
  int cli = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(connect(cli, (struct sockaddr*)&sin, sizeof sin) == 0);
  CHECK(wait1(ep, &ev, 1000) == 1 && ev.events == EPOLLIN && ev.data.u64 == 100);
  int srv = accept(lst, NULL, NULL);
  CHECK(srv >= 0);
  CHECK(wait1(ep, &ev, 0) == 0);
  CHECK(add(ep, srv, EPOLLIN | EPOLLRDHUP, 101) == 0);
  // A child writes after 100 ms: the blocked wait (no timeout) wakes.
  pid_t pid = late_writer(cli, 100);
  CHECK(wait1(ep, &ev, -1) == 1 && ev.events == EPOLLIN && ev.data.u64 == 101);
  CHECK(reaped(pid));
  char c;
  CHECK(read(srv, &c, 1) == 1 && c == 'z');
  close(cli);
  CHECK(wait1(ep, &ev, 1000) == 1 && (ev.events & EPOLLRDHUP) && ev.data.u64 == 101);
  close(srv), close(lst), close(ep);
}

static void test_timeouts_and_wakeups(void) {
  int ep = epoll_create1(0), p[2], sv[2];
  CHECK(pipe(p) == 0);
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  struct epoll_event ev;
  // An empty set: the timeout alone ends the wait.
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  CHECK(wait1(ep, &ev, 50) == 0);
  CHECK(ms_since(&t0) >= 45);
  CHECK(add(ep, p[0], EPOLLIN, 1) == 0);
  CHECK(add(ep, sv[0], EPOLLIN, 2) == 0);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  CHECK(wait1(ep, &ev, 100) == 0);
  CHECK(ms_since(&t0) >= 95);
  // A late write to the pipe, then to the socket, wakes a wait on both.
  pid_t pid = late_writer(p[1], 100);
  CHECK(wait1(ep, &ev, -1) == 1 && ev.data.u64 == 1);
  CHECK(reaped(pid));
  char c;
  CHECK(read(p[0], &c, 1) == 1);
  pid = late_writer(sv[1], 100);
  CHECK(wait1(ep, &ev, -1) == 1 && ev.data.u64 == 2);
  CHECK(reaped(pid));
  CHECK(read(sv[0], &c, 1) == 1);
  // epoll_pwait2's timespec timeout.
  struct timespec ts = {0, 50 * 1000000};
  clock_gettime(CLOCK_MONOTONIC, &t0);
  CHECK(syscall(SYS_epoll_pwait2, ep, &ev, 1, &ts, NULL, 8) == 0);
  CHECK(ms_since(&t0) >= 45);
  close(p[0]), close(p[1]), close(sv[0]), close(sv[1]), close(ep);
}

static void test_signals(void) {
  int ep = epoll_create1(0), p[2];
  CHECK(pipe(p) == 0);
  CHECK(add(ep, p[0], EPOLLIN, 1) == 0);
  struct epoll_event ev;
  // SA_RESTART does not restart epoll_wait: EINTR.
  struct sigaction sa = {0};
  sa.sa_handler = on_alarm;
  sa.sa_flags = SA_RESTART;
  CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
  g_alarms = 0;
  arm_timer_ms(50);
  CHECK(wait1(ep, &ev, -1) == -1 && errno == EINTR && g_alarms == 1);
  // epoll_pwait: SIGALRM blocked outside, let through by the call's mask;
  // afterwards the old mask is back.
  sigset_t block, old, now, none;
  sigemptyset(&block);
  sigemptyset(&none);
  sigaddset(&block, SIGALRM);
  CHECK(sigprocmask(SIG_BLOCK, &block, &old) == 0);
  arm_timer_ms(50);
  CHECK(epoll_pwait(ep, &ev, 1, -1, &none) == -1 && errno == EINTR && g_alarms == 2);
  CHECK(sigprocmask(SIG_BLOCK, NULL, &now) == 0 && sigismember(&now, SIGALRM));
  // With the signal blocked by the call's mask, the timeout ends the wait
  // and the signal stays pending.
  arm_timer_ms(20);
  CHECK(epoll_pwait(ep, &ev, 1, 100, &block) == 0 && g_alarms == 2);
  sigset_t pend;
  CHECK(sigpending(&pend) == 0 && sigismember(&pend, SIGALRM));
  CHECK(sigprocmask(SIG_SETMASK, &old, NULL) == 0 && g_alarms == 3);
  // Ready events come back under a mask too.
  CHECK(write(p[1], "x", 1) == 1);
  CHECK(epoll_pwait(ep, &ev, 1, -1, &none) == 1);
  CHECK(epoll_pwait(ep, &ev, 1, 0, (sigset_t*)0) == 1);
  close(p[0]), close(p[1]), close(ep);
  signal(SIGALRM, SIG_DFL);
}

static void test_close_removes(void) {
  int ep = epoll_create1(0), p[2];
  CHECK(pipe(p) == 0);
  CHECK(write(p[1], "x", 1) == 1);
  struct epoll_event ev;
  int r = p[0];
  int r2 = dup(r);
  CHECK(add(ep, r, EPOLLIN, 77) == 0);
  // Another fd still holds the file: the entry stays and reports under its data.
  close(r);
  CHECK(wait1(ep, &ev, 0) == 1 && ev.data.u64 == 77);
  CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, r, NULL) == -1 && errno == EBADF);
  // The last reference goes: the entry leaves the set.
  close(r2);
  CHECK(wait1(ep, &ev, 0) == 0);
  // A new file at the same fd number is a new entry.
  int q[2];
  CHECK(pipe(q) == 0 && q[0] == r);
  CHECK(add(ep, q[0], EPOLLIN, 78) == 0);
  CHECK(write(q[1], "y", 1) == 1);
  CHECK(wait1(ep, &ev, 0) == 1 && ev.data.u64 == 78);
  // The same for a socket (a host fd in the guest).
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  CHECK(write(sv[1], "s", 1) == 1);
  CHECK(add(ep, sv[0], EPOLLIN, 79) == 0);
  int s2 = dup(sv[0]);
  // Both fds of one file may be in the set, as two entries.
  CHECK(add(ep, s2, EPOLLIN, 80) == 0);
  CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, q[0], NULL) == 0);
  struct epoll_event evs[4];
  int n = epoll_wait(ep, evs, 4, 0);
  CHECK(n == 2 && evs[0].data.u64 + evs[1].data.u64 == 159);
  close(s2);
  close(sv[0]);
  CHECK(epoll_wait(ep, evs, 4, 0) == 0);
  close(sv[1]), close(q[0]), close(q[1]), close(p[1]), close(ep);
}

static void test_nested_and_poll(void) {
  int inner = epoll_create1(0), outer = epoll_create1(0), p[2], sv[2];
  CHECK(pipe(p) == 0);
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  CHECK(add(inner, p[0], EPOLLIN, 1) == 0);
  CHECK(add(inner, sv[0], EPOLLIN, 2) == 0);
  CHECK(add(outer, inner, EPOLLIN, 99) == 0);
  CHECK(add(inner, outer, EPOLLIN, 3) == -1 && errno == ELOOP);
  CHECK(add(inner, inner, EPOLLIN, 3) == -1 && errno == EINVAL);
  struct epoll_event ev;
  CHECK(wait1(outer, &ev, 0) == 0);
  CHECK(write(p[1], "x", 1) == 1);
  CHECK(wait1(outer, &ev, 0) == 1 && ev.events == EPOLLIN && ev.data.u64 == 99);
  CHECK(wait1(inner, &ev, 0) == 1 && ev.data.u64 == 1);
  char c;
  CHECK(read(p[0], &c, 1) == 1);
  CHECK(wait1(outer, &ev, 0) == 0);
  // The socket (a host fd) in the inner set wakes a blocked outer wait.
  pid_t pid = late_writer(sv[1], 100);
  CHECK(wait1(outer, &ev, -1) == 1 && ev.data.u64 == 99);
  CHECK(reaped(pid));
  CHECK(wait1(inner, &ev, 0) == 1 && ev.data.u64 == 2);
  CHECK(read(sv[0], &c, 1) == 1);
  // poll(2) on an epoll fd: POLLIN while it has events.
  struct pollfd pfd = {inner, POLLIN, 0};
  CHECK(poll(&pfd, 1, 0) == 0);
  CHECK(write(p[1], "y", 1) == 1);
  CHECK(poll(&pfd, 1, 0) == 1 && pfd.revents == POLLIN);
  CHECK(read(p[0], &c, 1) == 1);
  pid = late_writer(sv[1], 100);
  CHECK(poll(&pfd, 1, -1) == 1 && pfd.revents == POLLIN);
  CHECK(reaped(pid));
  close(p[0]), close(p[1]), close(sv[0]), close(sv[1]), close(inner), close(outer);
}

static void test_errors(void) {
  int ep = epoll_create1(0), p[2];
  CHECK(pipe(p) == 0);
  struct epoll_event ev = {EPOLLIN, {0}};
  int reg = open("/proc/self/exe", O_RDONLY);
  CHECK(reg >= 0);
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, reg, &ev) == -1 && errno == EPERM);
  int dir = open("/", O_RDONLY | O_DIRECTORY);
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, dir, &ev) == -1 && errno == EPERM);
  int null = open("/dev/null", O_RDWR);
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, null, &ev) == -1 && errno == EPERM);
  CHECK(epoll_ctl(p[0], EPOLL_CTL_ADD, p[1], &ev) == -1 && errno == EINVAL);
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev) == -1 && errno == EINVAL);
  CHECK(epoll_ctl(ep, 99, p[0], &ev) == -1 && errno == EINVAL);
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, 999, &ev) == -1 && errno == EBADF);
  CHECK(epoll_ctl(999, EPOLL_CTL_ADD, p[0], &ev) == -1 && errno == EBADF);
  CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL) == -1 && errno == ENOENT);
  ev.events = EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT;
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) == -1 && errno == EINVAL);
  ev.events = EPOLLIN | EPOLLEXCLUSIVE;
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) == 0);
  CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev) == -1 && errno == EINVAL);
  ev.events = EPOLLIN;
  CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev) == -1 && errno == EINVAL);
  int other = epoll_create1(0);
  ev.events = EPOLLIN | EPOLLEXCLUSIVE;
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, other, &ev) == -1 && errno == EINVAL);
  struct epoll_event out[2];
  CHECK(epoll_wait(ep, out, 0, 0) == -1 && errno == EINVAL);
  CHECK(syscall(SYS_epoll_wait, ep, out, -1, 0) == -1 && errno == EINVAL);
  CHECK(epoll_wait(p[0], out, 2, 0) == -1 && errno == EINVAL);
  CHECK(epoll_wait(999, out, 2, 0) == -1 && errno == EBADF);
  sigset_t none;
  sigemptyset(&none);
  CHECK(syscall(SYS_epoll_pwait, ep, out, 2, 0, &none, 4) == -1 && errno == EINVAL);
  struct timespec bad = {0, 2000000000};
  CHECK(syscall(SYS_epoll_pwait2, ep, out, 2, &bad, NULL, 8) == -1 && errno == EINVAL);
  close(reg), close(dir), close(null), close(other), close(p[0]), close(p[1]), close(ep);
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  test_create();
  test_pipe_level();
  test_pipe_edge_oneshot();
  test_rotation();
  test_unix_socket();
  test_tcp();
  test_timeouts_and_wakeups();
  test_signals();
  test_close_removes();
  test_nested_and_poll();
  test_errors();
  return DONE();
}
