// MAP_SHARED file mappings: every mapping of a file shares its pages (across
// fork and between independent mmaps in different processes); stores reach
// the file after msync and after munmap; a private mapping of the file does
// not write to it; a read-only fd cannot be mapped shared and writable.
// read(2) and write(2) agree with a shared mapping at once, without msync:
// a store through the mapping is read back with read/pread, and a
// write/pwrite (positional, at the offset, appended) shows in the mapping.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static const char* kPath = "/tmp/pangaea-conformance-mmap_shared";
enum { kLen = 3 * 4096 + 100 };

static int wait_status(pid_t pid) {
  int st = -1;
  while (waitpid(pid, &st, 0) < 0) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

static char file_byte(long off) {
  int fd = open(kPath, O_RDONLY);
  char c = '?';
  if (fd >= 0) {
    if (pread(fd, &c, 1, off) != 1) c = '!';
    close(fd);
  }
  return c;
}

int main(void) {
  unlink(kPath);
  int fd = open(kPath, O_CREAT | O_RDWR | O_TRUNC, 0644);
  CHECK(fd >= 0);
  char* init = malloc(kLen);
  memset(init, '.', kLen);
  CHECK(write(fd, init, kLen) == kLen);

  char* m = mmap(NULL, kLen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  CHECK(m != MAP_FAILED);
  CHECK(m[0] == '.' && m[kLen - 1] == '.');
  CHECK(m[kLen] == 0);  // past EOF in the last page: zeros

  // Across fork: the child's stores are the parent's, also in pages nobody
  // touched before the fork.
  pid_t pid = fork();
  if (pid == 0) {
    m[1] = 'c';
    m[2 * 4096 + 5] = 'd';
    _exit(0);
  }
  CHECK(wait_status(pid) == 0);
  CHECK(m[1] == 'c' && m[2 * 4096 + 5] == 'd');

  // msync puts the stores in the file.
  CHECK(msync(m, kLen, MS_SYNC) == 0);
  CHECK(file_byte(1) == 'c' && file_byte(2 * 4096 + 5) == 'd');

  // An independent mapping in another process (its own open and mmap, at
  // an offset) shares the pages both ways.
  int go[2];
  CHECK(pipe(go) == 0);
  pid = fork();
  if (pid == 0) {
    munmap(m, kLen);
    int cfd = open(kPath, O_RDWR);
    char* c = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, cfd, 4096);
    if (c == MAP_FAILED) _exit(2);
    c[7] = 'i';
    char x;
    if (read(go[0], &x, 1) != 1) _exit(3);
    int bad = c[8] != 'p';  // the parent's store after ours
    munmap(c, 4096);        // writes back
    _exit(bad);
  }
  usleep(1000);
  while (m[4096 + 7] != 'i') usleep(1000);
  m[4096 + 8] = 'p';
  CHECK(write(go[1], "g", 1) == 1);
  CHECK(wait_status(pid) == 0);
  CHECK(file_byte(4096 + 7) == 'i' && file_byte(4096 + 8) == 'p');

  // munmap writes back; the file keeps its size.
  m[kLen - 1] = 'e';
  CHECK(munmap(m, kLen) == 0);
  CHECK(file_byte(kLen - 1) == 'e');
  struct stat st;
  CHECK(fstat(fd, &st) == 0 && st.st_size == kLen);

  // A private mapping sees the file but never writes to it.
  char* pv = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  CHECK(pv != MAP_FAILED && pv[1] == 'c');
  pv[1] = 'P';
  CHECK(munmap(pv, 4096) == 0);
  CHECK(file_byte(1) == 'c');

  // Shared and writable needs an fd open for writing.
  int ro = open(kPath, O_RDONLY);
  CHECK(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0) == MAP_FAILED &&
        errno == EACCES);
  char* r = mmap(NULL, 4096, PROT_READ, MAP_SHARED, ro, 0);
  CHECK(r != MAP_FAILED && r[1] == 'c');
  CHECK(munmap(r, 4096) == 0);

  // Exit writes back: a child's store through its own mapping, no munmap.
  pid = fork();
  if (pid == 0) {
    char* c = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (c == MAP_FAILED) _exit(2);
    c[20] = 'x';
    _exit(0);
  }
  CHECK(wait_status(pid) == 0);
  CHECK(file_byte(20) == 'x');

  // Coherence without msync, as Linux's page cache gives.
  {
    int f = open(kPath, O_RDWR);
    CHECK(f >= 0);
    char* m = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
    CHECK(m != MAP_FAILED);
    m[5] = 'S';
    m[4096 + 7] = 'T';
    char got[2] = {0, 0};
    CHECK(pread(f, got, 1, 5) == 1 && got[0] == 'S');
    CHECK(lseek(f, 4096 + 7, SEEK_SET) == 4096 + 7 && read(f, got, 1) == 1 && got[0] == 'T');
    CHECK(pwrite(f, "PW", 2, 4095) == 2 && m[4095] == 'P' && m[4096] == 'W');
    CHECK(lseek(f, 30, SEEK_SET) == 30 && write(f, "wr", 2) == 2 && m[30] == 'w' && m[31] == 'r');
    // Another process's write(2) through its own fd shows in this mapping.
    pid_t w = fork();
    if (w == 0) {
      int g = open(kPath, O_WRONLY);
      _exit(g >= 0 && pwrite(g, "K", 1, 40) == 1 ? 0 : 1);
    }
    CHECK(wait_status(w) == 0 && m[40] == 'K');
    CHECK(munmap(m, 2 * 4096) == 0);
    close(f);
  }

  close(ro);
  close(fd);
  unlink(kPath);
  return DONE();
}
