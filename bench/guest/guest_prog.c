/* The program `pangaea bench guest` times natively, in our guest, under UML
 * and under gVisor: the same static binary everywhere.
 *
 *   guest_prog ITERATIONS DIR [poweroff]
 *
 * chdir(DIR), then for each row runs a short warm-up and kRounds timed rounds
 * and prints one line per row:
 *
 *   GB <row> iters=<n> best_ns=<ns/op> median_ns=<ns/op>
 *
 * best_ns is the fastest round (the machine is shared, so the minimum is the
 * least disturbed figure), median_ns the middle one. "GB done" ends a
 * complete run; "GB error <row> <what>" reports a failure (exit status 1).
 * DIR holds bench_data (read by open_read_close) and exec_target (run by
 * fork_exec). With "poweroff" the program powers the machine off at the end
 * when it is pid 1 (UML's init must not exit: that is a kernel panic). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { kRounds = 3, kPageSize = 4096, kTouchChunkPages = 256 };

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void fail(const char* row, const char* what) {
  printf("GB error %s %s: %s\n", row, what, strerror(errno));
  fflush(stdout);
  exit(1);
}

/* Each row: run `n` operations, return the nanoseconds they took. */
typedef uint64_t (*RowFn)(long n);

static uint64_t row_getpid(long n) {
  uint64_t t0 = now_ns();
  for (long i = 0; i < n; ++i) syscall(SYS_getpid);
  return now_ns() - t0;
}

static uint64_t row_open_read_close(long n) {
  char buf[4096];
  uint64_t t0 = now_ns();
  for (long i = 0; i < n; ++i) {
    int fd = open("bench_data", O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("open_read_close", "open bench_data");
    if (read(fd, buf, sizeof buf) != (ssize_t)sizeof buf) fail("open_read_close", "read");
    close(fd);
  }
  return now_ns() - t0;
}

/* First write to fresh anonymous pages: only the touches are timed, the
 * mmap and munmap around each chunk are not. */
static uint64_t row_touch(long n) {
  uint64_t total = 0;
  for (long done = 0; done < n;) {
    long pages = n - done < kTouchChunkPages ? n - done : kTouchChunkPages;
    size_t len = (size_t)pages * kPageSize;
    volatile char* p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) fail("touch", "mmap");
    uint64_t t0 = now_ns();
    for (long i = 0; i < pages; ++i) p[(size_t)i * kPageSize] = 1;
    total += now_ns() - t0;
    munmap((void*)p, len);
    done += pages;
  }
  return total;
}

static void reap(const char* row, pid_t pid) {
  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) fail(row, "waitpid");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    errno = 0;
    fail(row, "child did not exit 0");
  }
}

static uint64_t row_fork_wait(long n) {
  uint64_t t0 = now_ns();
  for (long i = 0; i < n; ++i) {
    pid_t pid = fork();
    if (pid < 0) fail("fork_wait", "fork");
    if (pid == 0) _exit(0);
    reap("fork_wait", pid);
  }
  return now_ns() - t0;
}

/* One op = one byte there and one back between two processes. */
static uint64_t row_pipe_pingpong(long n) {
  int there[2], back[2];
  if (pipe(there) < 0 || pipe(back) < 0) fail("pipe_pingpong", "pipe");
  pid_t pid = fork();
  if (pid < 0) fail("pipe_pingpong", "fork");
  if (pid == 0) {
    char c;
    close(there[1]);
    close(back[0]);
    while (read(there[0], &c, 1) == 1) {
      if (write(back[1], &c, 1) != 1) _exit(1);
    }
    _exit(0);
  }
  close(there[0]);
  close(back[1]);
  char c = 'x';
  uint64_t t0 = now_ns();
  for (long i = 0; i < n; ++i) {
    if (write(there[1], &c, 1) != 1) fail("pipe_pingpong", "write");
    if (read(back[0], &c, 1) != 1) fail("pipe_pingpong", "read");
  }
  uint64_t t = now_ns() - t0;
  close(there[1]);
  close(back[0]);
  reap("pipe_pingpong", pid);
  return t;
}

static uint64_t row_fork_exec(long n) {
  char* argv[] = {"exec_target", NULL};
  char* envp[] = {NULL};
  uint64_t t0 = now_ns();
  for (long i = 0; i < n; ++i) {
    pid_t pid = fork();
    if (pid < 0) fail("fork_exec", "fork");
    if (pid == 0) {
      execve("./exec_target", argv, envp);
      _exit(127);
    }
    reap("fork_exec", pid);
  }
  return now_ns() - t0;
}

struct Row {
  const char* name;
  RowFn fn;
  long divisor; /* iterations = ITERATIONS / divisor, at least 1 */
};

/* The order and names are parsed by bench/guest/guest_bench.cc. */
static const struct Row kRows[] = {
    {"getpid", row_getpid, 1},
    {"open_read_close", row_open_read_close, 4},
    {"touch", row_touch, 2},
    {"fork_wait", row_fork_wait, 50},
    {"pipe_pingpong", row_pipe_pingpong, 4},
    {"fork_exec", row_fork_exec, 100},
};

static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s ITERATIONS DIR [poweroff]\n", argv[0]);
    return 2;
  }
  long iterations = strtol(argv[1], NULL, 10);
  if (iterations < 1) iterations = 1;
  if (chdir(argv[2]) < 0) fail("setup", "chdir");
  for (size_t r = 0; r < sizeof kRows / sizeof kRows[0]; ++r) {
    const struct Row* row = &kRows[r];
    long n = iterations / row->divisor;
    if (n < 1) n = 1;
    long warmup = n / 10 > 0 ? n / 10 : 1;
    row->fn(warmup);
    double per_op[kRounds];
    for (int k = 0; k < kRounds; ++k) per_op[k] = (double)row->fn(n) / (double)n;
    qsort(per_op, kRounds, sizeof per_op[0], cmp_double);
    printf("GB %s iters=%ld best_ns=%.1f median_ns=%.1f\n", row->name, n, per_op[0],
           per_op[kRounds / 2]);
    fflush(stdout);
  }
  printf("GB done\n");
  fflush(stdout);
  if (argc > 3 && strcmp(argv[3], "poweroff") == 0 && getpid() == 1) {
    sync();
    reboot(RB_POWER_OFF);
  }
  return 0;
}
