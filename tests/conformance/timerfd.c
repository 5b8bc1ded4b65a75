// timerfd: create/settime/gettime rules, one-shot and periodic expiry
// counts, absolute CLOCK_REALTIME times, blocking read, poll and epoll_wait
// woken by the timer alone, disarming, and the errors.
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static uint64_t ticks(int fd) {
  uint64_t v = 0;
  return read(fd, &v, sizeof v) == sizeof v ? v : 0;
}

static long ms_since(const struct timespec* t0) {
  struct timespec t1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static int set_ms(int fd, long value_ms, long interval_ms) {
  struct itimerspec it = {{interval_ms / 1000, interval_ms % 1000 * 1000000},
                          {value_ms / 1000, value_ms % 1000 * 1000000}};
  return timerfd_settime(fd, 0, &it, NULL);
}

int main(void) {
  CHECK(timerfd_create(12345, 0) == -1 && errno == EINVAL);
  CHECK(timerfd_create(CLOCK_MONOTONIC, 0x4000000) == -1 && errno == EINVAL);
  int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  CHECK(fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC) && (fcntl(fd, F_GETFL) & O_NONBLOCK));
  struct itimerspec cur;
  CHECK(timerfd_gettime(fd, &cur) == 0 && cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0);
  uint64_t v;
  CHECK(read(fd, &v, sizeof v) == -1 && errno == EAGAIN);
  char small[4];
  CHECK(read(fd, small, sizeof small) == -1 && errno == EINVAL);
  CHECK(write(fd, &v, sizeof v) == -1 && errno == EINVAL);

  // One-shot, 50 ms: the remaining time, then a blocking read gives 1.
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  CHECK(set_ms(fd, 50, 0) == 0);
  CHECK(timerfd_gettime(fd, &cur) == 0 && cur.it_value.tv_sec == 0 &&
        cur.it_value.tv_nsec > 0 && cur.it_value.tv_nsec <= 50000000);
  CHECK(fcntl(fd, F_SETFL, 0) == 0);
  CHECK(ticks(fd) == 1);
  CHECK(ms_since(&t0) >= 45);
  CHECK(timerfd_gettime(fd, &cur) == 0 && cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0);
  CHECK(fcntl(fd, F_SETFL, O_NONBLOCK) == 0);
  CHECK(read(fd, &v, sizeof v) == -1 && errno == EAGAIN);

  // Periodic, 20 ms: at least 5 expirations in 110 ms, counted in one read.
  CHECK(set_ms(fd, 20, 20) == 0);
  usleep(110000);
  CHECK(ticks(fd) >= 5);
  CHECK(timerfd_gettime(fd, &cur) == 0 && cur.it_interval.tv_nsec == 20000000);
  // The old setting comes back; a zero value disarms.
  struct itimerspec zero = {{0, 0}, {0, 0}}, old;
  CHECK(timerfd_settime(fd, 0, &zero, &old) == 0 && old.it_interval.tv_nsec == 20000000);
  CHECK(timerfd_gettime(fd, &cur) == 0 && cur.it_value.tv_nsec == 0 && cur.it_interval.tv_nsec == 0);
  usleep(30000);
  CHECK(read(fd, &v, sizeof v) == -1 && errno == EAGAIN);
  CHECK(set_ms(fd, 10000, 0) == 0);
  CHECK(timerfd_settime(fd, 0, &zero, &old) == 0 && old.it_value.tv_sec >= 9);

  // The timer alone wakes a blocked epoll_wait and a blocked poll.
  int ep = epoll_create1(0);
  struct epoll_event ev = {EPOLLIN, {.u64 = 5}};
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0);
  CHECK(epoll_wait(ep, &ev, 1, 0) == 0);
  CHECK(set_ms(fd, 50, 0) == 0);
  CHECK(epoll_wait(ep, &ev, 1, -1) == 1 && ev.events == EPOLLIN && ev.data.u64 == 5);
  CHECK(ticks(fd) == 1);
  CHECK(epoll_wait(ep, &ev, 1, 0) == 0);
  CHECK(set_ms(fd, 30, 0) == 0);
  struct pollfd pfd = {fd, POLLIN, 0};
  CHECK(poll(&pfd, 1, -1) == 1 && pfd.revents == POLLIN);
  CHECK(ticks(fd) == 1);

  // An absolute CLOCK_REALTIME time 50 ms ahead, and one in the past.
  int rt = timerfd_create(CLOCK_REALTIME, 0);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  struct itimerspec at = {{0, 0}, now};
  at.it_value.tv_nsec += 50000000;
  if (at.it_value.tv_nsec >= 1000000000) at.it_value.tv_sec++, at.it_value.tv_nsec -= 1000000000;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  CHECK(timerfd_settime(rt, TFD_TIMER_ABSTIME, &at, NULL) == 0);
  CHECK(ticks(rt) == 1);
  CHECK(ms_since(&t0) >= 45);
  at.it_value.tv_sec -= 100;
  CHECK(timerfd_settime(rt, TFD_TIMER_ABSTIME, &at, NULL) == 0);
  CHECK(ticks(rt) == 1);

  // Errors.
  int p[2];
  CHECK(pipe(p) == 0);
  struct itimerspec bad = {{0, 0}, {0, 1000000000}};
  CHECK(timerfd_settime(fd, 0, &bad, NULL) == -1 && errno == EINVAL);
  CHECK(timerfd_settime(fd, 0x100, &zero, NULL) == -1 && errno == EINVAL);
  CHECK(timerfd_settime(p[0], 0, &zero, NULL) == -1 && errno == EINVAL);
  CHECK(timerfd_settime(999, 0, &zero, NULL) == -1 && errno == EBADF);
  CHECK(timerfd_gettime(p[0], &cur) == -1 && errno == EINVAL);
  close(p[0]), close(p[1]), close(rt), close(ep), close(fd);
  return DONE();
}
