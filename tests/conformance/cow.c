// Copy-on-write fork: after fork, parent and child each see their own
// private memory (anonymous, heap, stack, private file mapping), whatever
// order they write in; shared anonymous memory stays shared even for pages
// nobody touched before the fork; many forks (and forks of forks) keep every
// copy apart.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

enum { kPages = 64, kPage = 4096, kForks = 24 };

static int wait_status(pid_t pid) {
  int st = -1;
  while (waitpid(pid, &st, 0) < 0) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

// Returns 0 when every page of p holds `v` at its first byte.
static int all_equal(volatile char* p, char v) {
  for (int i = 0; i < kPages; ++i)
    if (p[i * kPage] != v) return 1;
  return 0;
}

static int g_data = 11;  // .data: private, written before and after fork

int main(void) {
  volatile char* p =
      mmap(NULL, kPages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(p != MAP_FAILED);
  for (int i = 0; i < kPages; ++i) p[i * kPage] = 'p';
  char* heap = malloc(1 << 16);
  heap[0] = 'h';
  volatile int stack_var = 1;

  // The child writes everything; the parent must keep its values.
  pid_t pid = fork();
  if (pid == 0) {
    for (int i = 0; i < kPages; ++i) p[i * kPage] = 'c';
    heap[0] = 'C';
    stack_var = 2;
    g_data = 22;
    _exit(all_equal(p, 'c') || heap[0] != 'C' || stack_var != 2 || g_data != 22);
  }
  CHECK(wait_status(pid) == 0);
  CHECK(all_equal(p, 'p') == 0);
  CHECK(heap[0] == 'h' && stack_var == 1 && g_data == 11);

  // The parent writes first, while the child still runs: the child must see
  // the values of the fork.
  int go[2], done[2];
  CHECK(pipe(go) == 0 && pipe(done) == 0);
  pid = fork();
  if (pid == 0) {
    char c;
    if (read(go[0], &c, 1) != 1) _exit(3);
    int bad = all_equal(p, 'p') || heap[0] != 'h' || g_data != 11;
    p[0] = 'x';
    _exit(bad);
  }
  for (int i = 0; i < kPages; ++i) p[i * kPage] = 'q';
  heap[0] = 'H';
  g_data = 33;
  CHECK(write(go[1], "g", 1) == 1);
  CHECK(wait_status(pid) == 0);
  CHECK(all_equal(p, 'q') == 0 && heap[0] == 'H' && g_data == 33);

  // Untouched pages at fork time: each side gets zeros, then its own data.
  volatile char* fresh =
      mmap(NULL, 4 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  pid = fork();
  if (pid == 0) {
    int bad = fresh[kPage] != 0;
    fresh[kPage] = 'k';
    _exit(bad || fresh[kPage] != 'k');
  }
  CHECK(wait_status(pid) == 0);
  CHECK(fresh[kPage] == 0);

  // Shared anonymous memory: shared both ways, also pages first touched
  // after the fork.
  volatile char* sh =
      mmap(NULL, 4 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  CHECK(sh != MAP_FAILED);
  sh[0] = 'a';
  pid = fork();
  if (pid == 0) {
    int bad = sh[0] != 'a';
    sh[0] = 'b';
    sh[2 * kPage] = 'z';  // never touched before the fork
    _exit(bad);
  }
  CHECK(wait_status(pid) == 0);
  CHECK(sh[0] == 'b' && sh[2 * kPage] == 'z');

  // Many forks, and forks of forks: every process writes its own number and
  // reads it back after its siblings wrote theirs.
  int ok = 1;
  for (int i = 0; i < kForks; ++i) {
    pid = fork();
    if (pid == 0) {
      p[0] = (char)i;
      if (i % 3 == 0) {
        pid_t g = fork();
        if (g == 0) {
          p[0] = (char)(i + 100);
          _exit(p[0] != (char)(i + 100));
        }
        if (wait_status(g) != 0) _exit(1);
      }
      usleep(100);
      _exit(p[0] != (char)i);
    }
    if (wait_status(pid) != 0) ok = 0;
  }
  CHECK(ok);
  CHECK(p[0] == 'q');

  // mprotect after fork: a read-only page stays readable, becomes writable
  // again and is still private.
  CHECK(mprotect((void*)p, kPage, PROT_READ) == 0);
  pid = fork();
  if (pid == 0) {
    int bad = p[0] != 'q';
    if (mprotect((void*)p, kPage, PROT_READ | PROT_WRITE) != 0) _exit(2);
    p[0] = 'w';
    _exit(bad || p[0] != 'w');
  }
  CHECK(wait_status(pid) == 0);
  CHECK(p[0] == 'q');
  CHECK(mprotect((void*)p, kPage, PROT_READ | PROT_WRITE) == 0);

  // The kernel writing into a cow page (read(2) into it) must not reach the
  // other process.
  int fds[2];
  CHECK(pipe(fds) == 0);
  pid = fork();
  if (pid == 0) {
    if (write(fds[1], "KERNEL", 6) != 6) _exit(2);
    if (read(fds[0], (char*)p + 8, 6) != 6) _exit(3);
    _exit(p[8] != 'K');
  }
  CHECK(wait_status(pid) == 0);
  CHECK(p[8] == 0);
  return DONE();
}
