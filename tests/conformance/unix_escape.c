// A hostile-style test of AF_UNIX: host sockets a guest must not reach.
//
//   unix_escape BOOT      on the host: makes a root directory holding only
//       this program, a listening host socket OUTSIDE it (and symlinks to it
//       from inside), host abstract sockets (stream and datagram) and one
//       host socket INSIDE the root; boots the guest (BOOT, in that root) as
//       `/guest guest OUTSIDE ABSTRACT`, then checks that nothing reached
//       the outside or abstract sockets, that the inside socket got the
//       guest's connection, and that a guest bind made a socket file in the
//       root.
//   unix_escape guest OUTSIDE ABSTRACT   in the guest: every way out must fail.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static socklen_t addr_of(struct sockaddr_un* sa, const char* name, int abstract) {
  memset(sa, 0, sizeof(*sa));
  sa->sun_family = AF_UNIX;
  if (abstract) {
    memcpy(sa->sun_path + 1, name, strlen(name));
    return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
  }
  strcpy(sa->sun_path, name);
  return offsetof(struct sockaddr_un, sun_path) + strlen(name) + 1;
}

static int try_connect(int type, const char* name, int abstract) {
  struct sockaddr_un sa;
  socklen_t len = addr_of(&sa, name, abstract);
  int s = socket(AF_UNIX, type, 0);
  int r = connect(s, (struct sockaddr*)&sa, len);
  int err = errno;
  close(s);
  errno = err;
  return r;
}

static int guest(const char* outside, const char* abstract) {
  CHECK(getpid() == 1);
  CHECK(try_connect(SOCK_STREAM, outside, 0) == -1 && errno == ENOENT);
  CHECK(try_connect(SOCK_STREAM, "/link_out", 0) == -1 && errno == ENOENT);
  CHECK(try_connect(SOCK_STREAM, "/link_rel", 0) == -1 && errno == ENOENT);
  CHECK(try_connect(SOCK_STREAM, "/../../../../../../../../tmp", 0) == -1);
  CHECK(try_connect(SOCK_STREAM, abstract, 1) == -1 && errno == ECONNREFUSED);
  CHECK(try_connect(SOCK_DGRAM, abstract, 1) == -1 && errno == ECONNREFUSED);
  struct sockaddr_un sa;
  socklen_t len = addr_of(&sa, abstract, 1);
  int d = socket(AF_UNIX, SOCK_DGRAM, 0);
  CHECK(sendto(d, "x", 1, 0, (struct sockaddr*)&sa, len) == -1 && errno == ECONNREFUSED);
  // The same abstract name is free in the guest's own namespace, and what
  // is sent to it stays there.
  int mine = socket(AF_UNIX, SOCK_DGRAM, 0);
  CHECK(bind(mine, (struct sockaddr*)&sa, len) == 0);
  CHECK(sendto(d, "y", 1, 0, (struct sockaddr*)&sa, len) == 1);
  char b = 0;
  CHECK(recv(mine, &b, 1, 0) == 1 && b == 'y');
  close(mine);
  close(d);
  // A host socket inside the root is reachable, as a file of the root is.
  int in = socket(AF_UNIX, SOCK_STREAM, 0);
  len = addr_of(&sa, "/inside.sock", 0);
  CHECK(connect(in, (struct sockaddr*)&sa, len) == 0 && write(in, "hi", 2) == 2);
  close(in);
  // A guest bind makes a socket file in the root, not at the host's path.
  int g = socket(AF_UNIX, SOCK_STREAM, 0);
  len = addr_of(&sa, "/tmp/guest.sock", 0);
  CHECK(bind(g, (struct sockaddr*)&sa, len) == 0);
  close(g);
  printf("guest done\n");
  return DONE();
}

static int listener(int type, const char* name, int abstract) {
  struct sockaddr_un sa;
  socklen_t len = addr_of(&sa, name, abstract);
  int s = socket(AF_UNIX, type | SOCK_NONBLOCK, 0);
  if (bind(s, (struct sockaddr*)&sa, len) != 0) return -1;
  if (type != SOCK_DGRAM && listen(s, 4) != 0) return -1;
  return s;
}

static int copy_file(const char* from, const char* to) {
  int in = open(from, O_RDONLY), out = open(to, O_CREAT | O_WRONLY | O_TRUNC, 0755);
  if (in < 0 || out < 0) return -1;
  char buf[65536];
  ssize_t n;
  while ((n = read(in, buf, sizeof(buf))) > 0)
    if (write(out, buf, n) != n) return -1;
  close(in);
  close(out);
  return n == 0 ? 0 : -1;
}

int main(int argc, char** argv) {
  if (argc == 4 && strcmp(argv[1], "guest") == 0) return guest(argv[2], argv[3]);
  if (argc != 2) {
    fprintf(stderr, "usage: %s BOOT\n", argv[0]);
    return 2;
  }
  char dir[] = "/tmp/pangaea-unix-escape-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char root[128], outside[128], abstract[64], path[160], rootflags[160];
  snprintf(root, sizeof(root), "%s/root", dir);
  snprintf(outside, sizeof(outside), "%s/outside.sock", dir);
  snprintf(abstract, sizeof(abstract), "pangaea-escape-%d", (int)getpid());
  CHECK(mkdir(root, 0755) == 0);
  snprintf(path, sizeof(path), "%s/tmp", root);
  CHECK(mkdir(path, 01777) == 0);
  snprintf(path, sizeof(path), "%s/guest", root);
  CHECK(copy_file("/proc/self/exe", path) == 0);
  snprintf(path, sizeof(path), "%s/link_out", root);
  CHECK(symlink(outside, path) == 0);
  snprintf(path, sizeof(path), "%s/link_rel", root);
  CHECK(symlink("../outside.sock", path) == 0);

  int out = listener(SOCK_STREAM, outside, 0);
  int abs_stream = listener(SOCK_STREAM, abstract, 1);
  int abs_dgram = listener(SOCK_DGRAM, abstract, 1);
  snprintf(path, sizeof(path), "%s/inside.sock", root);
  int inside = listener(SOCK_STREAM, path, 0);
  CHECK(out >= 0 && abs_stream >= 0 && abs_dgram >= 0 && inside >= 0);

  snprintf(rootflags, sizeof(rootflags), "rootflags=%s", root);
  fflush(stdout);
  pid_t boot = fork();
  if (boot == 0) {
    execl(argv[1], argv[1], "mem=64M", "root=/dev/root", "rootfstype=hostfs", rootflags, "--",
          "/guest", "guest", outside, abstract, (char*)NULL);
    _exit(127);
  }
  int status = -1;
  CHECK(waitpid(boot, &status, 0) == boot);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  // Nothing reached the host's sockets outside the root.
  CHECK(accept(out, NULL, NULL) == -1 && errno == EAGAIN);
  CHECK(accept(abs_stream, NULL, NULL) == -1 && errno == EAGAIN);
  char buf[4];
  CHECK(recv(abs_dgram, buf, sizeof(buf), 0) == -1 && errno == EAGAIN);
  // The socket inside the root got the guest's connection.
  int a = accept(inside, NULL, NULL);
  CHECK(a >= 0 && read(a, buf, 2) == 2 && memcmp(buf, "hi", 2) == 0);
  close(a);
  struct stat st;
  snprintf(path, sizeof(path), "%s/tmp/guest.sock", root);
  CHECK(lstat(path, &st) == 0 && S_ISSOCK(st.st_mode));

  unlink(path);
  snprintf(path, sizeof(path), "%s/tmp", root);
  rmdir(path);
  const char* names[] = {"guest", "link_out", "link_rel", "inside.sock"};
  for (int i = 0; i < 4; ++i) {
    snprintf(path, sizeof(path), "%s/%s", root, names[i]);
    unlink(path);
  }
  rmdir(root);
  unlink(outside);
  rmdir(dir);
  return DONE();
}
