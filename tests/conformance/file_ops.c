// Names and metadata: rename, link, symlink/readlink, chmod, truncate,
// utimensat, statx, statfs, poll and select on pipes and files.
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

int main(void) {
  const char* dir = "/tmp/pangaea-conformance-file_ops";
  char a[256], b[256], l[256], buf[256];
  snprintf(a, sizeof(a), "%s/a", dir);
  snprintf(b, sizeof(b), "%s/b", dir);
  snprintf(l, sizeof(l), "%s/l", dir);
  unlink(a), unlink(b), unlink(l), rmdir(dir);
  CHECK(mkdir(dir, 0700) == 0);
  int fd = creat(a, 0600);
  CHECK(fd >= 0 && write(fd, "0123456789", 10) == 10);
  CHECK(ftruncate(fd, 4) == 0);
  CHECK(fsync(fd) == 0);
  close(fd);
  struct stat st;
  CHECK(stat(a, &st) == 0 && st.st_size == 4);
  CHECK(truncate(a, 2) == 0 && stat(a, &st) == 0 && st.st_size == 2);
  CHECK(chmod(a, 0640) == 0 && stat(a, &st) == 0 && (st.st_mode & 0777) == 0640);
  CHECK(rename(a, b) == 0);
  CHECK(access(a, F_OK) == -1 && errno == ENOENT);
  CHECK(link(b, a) == 0 && stat(a, &st) == 0 && st.st_nlink == 2);
  CHECK(symlink("b", l) == 0);
  ssize_t n = readlink(l, buf, sizeof(buf));
  CHECK(n == 1 && buf[0] == 'b');
  CHECK(lstat(l, &st) == 0 && S_ISLNK(st.st_mode));
  CHECK(stat(l, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 2);
  struct timespec times[2] = {{1000000000, 0}, {1000000000, 0}};
  CHECK(utimensat(AT_FDCWD, b, times, 0) == 0 && stat(b, &st) == 0 &&
        st.st_mtim.tv_sec == 1000000000);
  struct statx sx;
  CHECK(statx(AT_FDCWD, b, 0, STATX_SIZE | STATX_MODE, &sx) == 0 && sx.stx_size == 2 &&
        S_ISREG(sx.stx_mode));
  struct statfs sfs;
  CHECK(statfs(dir, &sfs) == 0 && sfs.f_bsize > 0);
  CHECK(renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_NOREPLACE) == -1 && errno == EEXIST);

  int pfd[2];
  CHECK(pipe(pfd) == 0);
  struct pollfd pf[2] = {{pfd[0], POLLIN, 0}, {pfd[1], POLLOUT, 0}};
  CHECK(poll(pf, 2, 0) == 1 && pf[1].revents == POLLOUT && pf[0].revents == 0);
  pid_t c = fork();
  if (c == 0) {
    write(pfd[1], "z", 1);
    _exit(0);
  }
  pf[0].revents = 0;
  CHECK(poll(pf, 1, -1) == 1 && (pf[0].revents & POLLIN));
  fd_set rd;
  FD_ZERO(&rd);
  FD_SET(pfd[0], &rd);
  struct timeval tv = {5, 0};
  CHECK(select(pfd[0] + 1, &rd, NULL, NULL, &tv) == 1 && FD_ISSET(pfd[0], &rd));
  waitpid(c, NULL, 0);
  struct timespec t0 = {0, 0};
  CHECK(ppoll(NULL, 0, &t0, NULL) == 0);
  int file = open(b, O_RDONLY);
  struct pollfd ff = {file, POLLIN, 0};
  CHECK(poll(&ff, 1, 1000) == 1 && (ff.revents & POLLIN));
  close(file);

  CHECK(unlink(l) == 0 && unlink(a) == 0 && unlink(b) == 0 && rmdir(dir) == 0);
  return DONE();
}
