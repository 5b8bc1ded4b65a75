// eventfd: the counter's read/write rules (whole count, EFD_SEMAPHORE, the
// 2^64-2 ceiling, short buffers), flags, readiness for poll and epoll
// (level and edge), and a child's late write waking a blocked read and a
// blocked epoll_wait, and a late read waking a blocked write.
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static int put(int fd, uint64_t v) { return (int)write(fd, &v, sizeof v); }
static uint64_t take(int fd) {
  uint64_t v = 0;
  return read(fd, &v, sizeof v) == sizeof v ? v : 0xdead;
}

static pid_t later(int fd, int ms, int do_read) {
  pid_t pid = fork();
  if (pid == 0) {
    usleep(ms * 1000);
    if (do_read)
      take(fd);
    else
      put(fd, 5);
    _exit(0);
  }
  return pid;
}

static int reaped(pid_t pid) {
  int st = 0;
  return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int main(void) {
  CHECK(eventfd(0, 0x4000000) == -1 && errno == EINVAL);
  int fd = eventfd(3, EFD_NONBLOCK | EFD_CLOEXEC);
  CHECK(fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC) && (fcntl(fd, F_GETFL) & O_NONBLOCK));
  CHECK((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR);
  CHECK(take(fd) == 3);
  uint64_t v;
  CHECK(read(fd, &v, sizeof v) == -1 && errno == EAGAIN);
  CHECK(put(fd, 2) == 8 && put(fd, 40) == 8);
  CHECK(take(fd) == 42);
  char small[4];
  CHECK(read(fd, small, sizeof small) == -1 && errno == EINVAL);
  CHECK(write(fd, small, sizeof small) == -1 && errno == EINVAL);
  CHECK(put(fd, UINT64_MAX) == -1 && errno == EINVAL);
  CHECK(put(fd, UINT64_MAX - 1) == 8);
  CHECK(put(fd, 1) == -1 && errno == EAGAIN);  // past the ceiling
  CHECK(put(fd, 0) == 8);
  struct pollfd pfd = {fd, POLLIN | POLLOUT, 0};
  CHECK(poll(&pfd, 1, 0) == 1 && pfd.revents == POLLIN);
  CHECK(take(fd) == UINT64_MAX - 1);
  CHECK(poll(&pfd, 1, 0) == 1 && pfd.revents == POLLOUT);
  // A larger buffer reads 8 bytes.
  char big[16];
  CHECK(put(fd, 7) == 8 && read(fd, big, sizeof big) == 8);
  // The raw eventfd(2) call (no flags).
  int raw = (int)syscall(SYS_eventfd, 9);
  CHECK(raw >= 0 && !(fcntl(raw, F_GETFL) & O_NONBLOCK) && take(raw) == 9);
  close(raw);

  // Semaphore mode: one at a time.
  int sem = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK);
  CHECK(take(sem) == 1 && take(sem) == 1);
  CHECK(read(sem, &v, sizeof v) == -1 && errno == EAGAIN);
  close(sem);

  // epoll: level and edge.
  int ep = epoll_create1(0);
  struct epoll_event ev = {EPOLLIN, {.u64 = 11}};
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0);
  CHECK(epoll_wait(ep, &ev, 1, 0) == 0);
  CHECK(put(fd, 1) == 8);
  CHECK(epoll_wait(ep, &ev, 1, 0) == 1 && ev.events == EPOLLIN && ev.data.u64 == 11);
  CHECK(epoll_wait(ep, &ev, 1, 0) == 1);
  ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
  CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) == 0);
  CHECK(epoll_wait(ep, &ev, 1, 0) == 1 && ev.events == (EPOLLIN | EPOLLOUT));
  CHECK(epoll_wait(ep, &ev, 1, 0) == 0);
  CHECK(put(fd, 1) == 8);
  CHECK(epoll_wait(ep, &ev, 1, 0) == 1);
  CHECK(take(fd) == 2);
  CHECK(epoll_wait(ep, &ev, 1, 0) == 1 && ev.events == EPOLLOUT);  // a read is a wake-up too

  // Blocking: a child's write wakes epoll_wait, then a blocked read.
  ev.events = EPOLLIN;
  CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) == 0);
  pid_t pid = later(fd, 100, 0);
  CHECK(epoll_wait(ep, &ev, 1, -1) == 1 && ev.data.u64 == 11);
  CHECK(reaped(pid));
  CHECK(take(fd) == 5);
  int flags = fcntl(fd, F_GETFL);
  CHECK(fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0);
  pid = later(fd, 100, 0);
  CHECK(take(fd) == 5);
  CHECK(reaped(pid));
  // A full counter: the blocked write goes on once the child reads.
  CHECK(put(fd, UINT64_MAX - 1) == 8);
  pid = later(fd, 100, 1);
  CHECK(put(fd, 3) == 8);
  CHECK(reaped(pid));
  CHECK(take(fd) == 3);
  close(ep);
  close(fd);
  return DONE();
}
