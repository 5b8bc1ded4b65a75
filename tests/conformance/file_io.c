// Files inside the root: open/read/write/lseek/fstat/getdents64/readlink,
// directories, cwd, and the errors for bad fds and missing paths.
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "check.h"

int main(void) {
  const char* dir = "/tmp/pangaea-conformance-file_io";
  char path[256];
  snprintf(path, sizeof(path), "%s/data", dir);
  unlink(path);
  rmdir(dir);
  CHECK(mkdir(dir, 0755) == 0);
  CHECK(mkdir(dir, 0755) == -1 && errno == EEXIST);

  int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
  CHECK(fd >= 0);
  CHECK(write(fd, "hello file\n", 11) == 11);
  struct iovec iov[2] = {{"abc", 3}, {"defg", 4}};
  CHECK(writev(fd, iov, 2) == 7);
  CHECK(lseek(fd, 0, SEEK_CUR) == 18);
  CHECK(lseek(fd, 6, SEEK_SET) == 6);
  char buf[64] = {0};
  CHECK(read(fd, buf, 4) == 4 && memcmp(buf, "file", 4) == 0);
  CHECK(pread(fd, buf, 3, 11) == 3 && memcmp(buf, "abc", 3) == 0);
  struct stat st;
  CHECK(fstat(fd, &st) == 0 && st.st_size == 18 && S_ISREG(st.st_mode));
  CHECK(stat(path, &st) == 0 && st.st_size == 18);
  int fd2 = dup(fd);
  CHECK(fd2 > fd);
  CHECK(lseek(fd2, 0, SEEK_CUR) == 10);  // dup shares the offset
  CHECK(fcntl(fd2, F_GETFD) == 0);
  CHECK(fcntl(fd2, F_SETFD, FD_CLOEXEC) == 0 && fcntl(fd2, F_GETFD) == FD_CLOEXEC);
  CHECK(dup2(fd, 50) == 50);
  CHECK(close(50) == 0);
  CHECK(close(50) == -1 && errno == EBADF);
  CHECK(close(fd2) == 0);
  CHECK(close(fd) == 0);

  CHECK(read(77, buf, 1) == -1 && errno == EBADF);
  CHECK(open("/nonexistent/file", O_RDONLY) == -1 && errno == ENOENT);
  CHECK(open(path, O_RDONLY | O_DIRECTORY) == -1 && errno == ENOTDIR);
  CHECK(access(path, R_OK) == 0);
  CHECK(access("/nonexistent", F_OK) == -1 && errno == ENOENT);

  CHECK(chdir(dir) == 0);
  CHECK(getcwd(buf, sizeof(buf)) != NULL && strcmp(buf, dir) == 0);
  CHECK(open("data", O_RDONLY) >= 0);  // relative to the new cwd
  CHECK(chdir("..") == 0);
  CHECK(getcwd(buf, sizeof(buf)) != NULL && strcmp(buf, "/tmp") == 0);
  CHECK(getcwd(buf, 2) == NULL && errno == ERANGE);

  char link[256];
  snprintf(link, sizeof(link), "%s/link", dir);
  unlink(link);
  CHECK(symlink("data", link) == 0 || errno == ENOSYS);

  DIR* d = opendir(dir);
  CHECK(d != NULL);
  int entries = 0, saw_data = 0;
  struct dirent* e;
  while (d && (e = readdir(d)) != NULL) {
    entries++;
    if (strcmp(e->d_name, "data") == 0) saw_data = 1;
  }
  if (d) closedir(d);
  CHECK(saw_data && entries >= 3);

  int null = open("/dev/null", O_RDWR);
  CHECK(null >= 0 && write(null, "x", 1) == 1 && read(null, buf, 1) == 0);
  int zero = open("/dev/zero", O_RDONLY);
  memset(buf, 1, 8);
  CHECK(zero >= 0 && read(zero, buf, 8) == 8 && buf[0] == 0 && buf[7] == 0);

  unlink(link);
  CHECK(unlink(path) == 0);
  CHECK(unlink(path) == -1 && errno == ENOENT);
  CHECK(rmdir(dir) == 0);
  return DONE();
}
