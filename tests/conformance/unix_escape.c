// A hostile-style test of AF_UNIX: host sockets a guest must not reach.
//
//   unix_escape BOOT      on the host: makes a root directory holding only
//       this program, a listening host socket OUTSIDE it (and symlinks to it
//       from inside), host abstract sockets (stream and datagram) and one
//       host socket INSIDE the root; boots the guest (BOOT, in that root) as
//       `/guest guest OUTSIDE ABSTRACT DIAG`, then checks that nothing reached
//       the outside or abstract sockets, that the inside socket got the
//       guest's connection, and that a guest bind made a socket file in the
//       root.
//   unix_escape guest OUTSIDE ABSTRACT DIAG   in the guest: every way out must fail.
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <poll.h>
#include <signal.h>
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

// Whether the host answers unix sock_diag queries (the kernel needs them to
// tell an outside connector from a guest one).
static int host_has_unix_diag(void) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 0;
  struct stat st;
  fstat(sv[0], &st);
  int nl = socket(AF_NETLINK, SOCK_DGRAM, NETLINK_SOCK_DIAG);
  struct {
    struct nlmsghdr nh;
    struct unix_diag_req req;
  } msg = {0};
  msg.nh.nlmsg_len = sizeof(msg);
  msg.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nh.nlmsg_flags = NLM_F_REQUEST;
  msg.req.sdiag_family = AF_UNIX;
  msg.req.udiag_states = ~0u;
  msg.req.udiag_ino = st.st_ino;
  msg.req.udiag_show = UDIAG_SHOW_PEER;
  msg.req.udiag_cookie[0] = msg.req.udiag_cookie[1] = ~0u;
  char buf[512];
  int ok = nl >= 0 && send(nl, &msg, sizeof(msg), 0) == sizeof(msg) &&
           recv(nl, buf, sizeof(buf), 0) > (ssize_t)sizeof(struct nlmsghdr) &&
           ((struct nlmsghdr*)buf)->nlmsg_type == SOCK_DIAG_BY_FAMILY;
  close(nl);
  close(sv[0]);
  close(sv[1]);
  return ok;
}

static int guest(const char* outside, const char* abstract, int diag) {
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
  // A host process (the runner's helper) connects to a guest listener inside
  // the root before a guest process does: only the guest's connection has
  // guest credentials.
  int l = socket(AF_UNIX, SOCK_STREAM, 0);
  len = addr_of(&sa, "/tmp/listen.sock", 0);
  CHECK(bind(l, (struct sockaddr*)&sa, len) == 0 && listen(l, 4) == 0);
  struct pollfd pfd = {l, POLLIN, 0};
  CHECK(poll(&pfd, 1, 20000) == 1);
  // The guest child connects while the helper's connection is still
  // queued; both stay open until accepted (the host names a peer only
  // while it is open).
  fflush(stdout);
  pid_t child = fork();
  if (child == 0) {
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    char x;
    if (connect(c, (struct sockaddr*)&sa, len) != 0) _exit(1);
    _exit(read(c, &x, 1) == 0 ? 0 : 2);  // until the parent closes
  }
  struct ucred cr[2];
  int acc[2];
  for (int i = 0; i < 2; ++i) {
    acc[i] = accept(l, NULL, NULL);
    socklen_t cl = sizeof(cr[i]);
    CHECK(acc[i] >= 0 && getsockopt(acc[i], SOL_SOCKET, SO_PEERCRED, &cr[i], &cl) == 0);
  }
  close(acc[0]);
  close(acc[1]);
  int st = -1;
  CHECK(waitpid(child, &st, 0) == child && st == 0);
  if (diag) CHECK(cr[0].pid == 0 && cr[1].pid == child);
  close(l);
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
  if (argc == 5 && strcmp(argv[1], "guest") == 0)
    return guest(argv[2], argv[3], strcmp(argv[4], "diag") == 0);
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

  // The helper: connects to the guest's listener once it is there.
  fflush(stdout);
  pid_t helper = fork();
  if (helper == 0) {
    struct sockaddr_un ga;
    char gp[200];
    snprintf(gp, sizeof(gp), "%s/tmp/listen.sock", root);
    socklen_t gl = addr_of(&ga, gp, 0);
    for (int i = 0; i < 20000; ++i) {
      int c = socket(AF_UNIX, SOCK_STREAM, 0);
      char x;
      if (connect(c, (struct sockaddr*)&ga, gl) == 0) _exit(read(c, &x, 1) == 0 ? 0 : 2);
      close(c);
      usleep(1000);
    }
    _exit(1);
  }
  snprintf(rootflags, sizeof(rootflags), "rootflags=%s", root);
  pid_t boot = fork();
  if (boot == 0) {
    execl(argv[1], argv[1], "mem=64M", "root=/dev/root", "rootfstype=hostfs", rootflags, "--",
          "/guest", "guest", outside, abstract, host_has_unix_diag() ? "diag" : "nodiag",
          (char*)NULL);
    _exit(127);
  }
  int status = -1;
  CHECK(waitpid(boot, &status, 0) == boot);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  kill(helper, SIGKILL);  // only if the guest failed before listening
  CHECK(waitpid(helper, &status, 0) == helper);

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
  snprintf(path, sizeof(path), "%s/tmp/listen.sock", root);
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
