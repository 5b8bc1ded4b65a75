// AF_UNIX sockets: socketpair message boundaries (stream, dgram, seqpacket),
// bind/listen/accept/connect on paths between two processes, abstract names,
// autobind, getsockname/getpeername, datagram addresses, errors, poll and
// SO_PEERCRED. Names hold the pid so that runs do not collide; nothing
// printed depends on it.
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static char g_dir[64];

static socklen_t path_addr(struct sockaddr_un* sa, const char* path) {
  memset(sa, 0, sizeof(*sa));
  sa->sun_family = AF_UNIX;
  strcpy(sa->sun_path, path);
  return offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1;
}

static socklen_t abstract_addr(struct sockaddr_un* sa, const char* name) {
  memset(sa, 0, sizeof(*sa));
  sa->sun_family = AF_UNIX;
  memcpy(sa->sun_path + 1, name, strlen(name));
  return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
}

static void in_dir(char* out, const char* name) { sprintf(out, "%s/%s", g_dir, name); }

static void socketpairs(void) {
  int sv[2];
  char buf[16];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  CHECK(write(sv[0], "abc", 3) == 3 && write(sv[0], "def", 3) == 3);
  CHECK(read(sv[1], buf, sizeof(buf)) == 6 && memcmp(buf, "abcdef", 6) == 0);
  struct sockaddr_un any;
  socklen_t al = path_addr(&any, "/nonexistent/x");
  CHECK(sendto(sv[0], "z", 1, 0, (struct sockaddr*)&any, al) == -1 && errno == EISCONN);
  CHECK(shutdown(sv[0], SHUT_WR) == 0);
  CHECK(read(sv[1], buf, sizeof(buf)) == 0);
  CHECK(write(sv[1], "x", 1) == 1 && read(sv[0], buf, 1) == 1 && buf[0] == 'x');
  close(sv[1]);
  CHECK(send(sv[0], "y", 1, MSG_NOSIGNAL) == -1 && errno == EPIPE);
  CHECK(write(sv[0], "y", 1) == -1 && errno == EPIPE);
  // SIGPIPE's default action ends the writer (and only the writer).
  fflush(stdout);
  pid_t w = fork();
  if (w == 0) {
    signal(SIGPIPE, SIG_DFL);
    (void)write(sv[0], "y", 1);
    _exit(0);
  }
  int ws = 0;
  CHECK(waitpid(w, &ws, 0) == w && WIFSIGNALED(ws) && WTERMSIG(ws) == SIGPIPE);
  close(sv[0]);

  CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);
  CHECK(send(sv[0], "a", 1, 0) == 1 && send(sv[0], "bc", 2, 0) == 2);
  CHECK(recv(sv[1], buf, sizeof(buf), 0) == 1 && buf[0] == 'a');
  CHECK(recv(sv[1], buf, sizeof(buf), 0) == 2 && memcmp(buf, "bc", 2) == 0);
  CHECK(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT) == -1 && errno == EAGAIN);
  // FIONREAD: the next datagram's size; FIONBIO as O_NONBLOCK.
  int avail = -1, on = 1;
  CHECK(send(sv[0], "four", 4, 0) == 4 && send(sv[0], "sixsix", 6, 0) == 6);
  CHECK(ioctl(sv[1], FIONREAD, &avail) == 0 && avail == 4);
  CHECK(ioctl(sv[1], FIONBIO, &on) == 0 && (fcntl(sv[1], F_GETFL) & O_NONBLOCK));
  CHECK(recv(sv[1], buf, sizeof(buf), 0) == 4 && recv(sv[1], buf, sizeof(buf), 0) == 6);
  CHECK(recv(sv[1], buf, sizeof(buf), 0) == -1 && errno == EAGAIN);
  on = 0;
  CHECK(ioctl(sv[1], FIONBIO, &on) == 0 && !(fcntl(sv[1], F_GETFL) & O_NONBLOCK));
  CHECK(ioctl(sv[1], FIOCLEX) == 0 && (fcntl(sv[1], F_GETFD) & FD_CLOEXEC));
  // An empty datagram is one.
  CHECK(write(sv[0], "", 0) == 0 && recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT) == 0);
  CHECK(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT) == -1 && errno == EAGAIN);
  CHECK(socket(AF_UNIX, SOCK_STREAM | 0x1000, 0) == -1 && errno == EINVAL);
  // writev is one datagram, readv takes one.
  struct iovec two[2] = {{"12", 2}, {"345", 3}};
  CHECK(writev(sv[0], two, 2) == 5);
  char r1[2], r2[8];
  struct iovec rv[2] = {{r1, 2}, {r2, 8}};
  CHECK(readv(sv[1], rv, 2) == 5 && memcmp(r1, "12", 2) == 0 && memcmp(r2, "345", 3) == 0);
  CHECK(read(sv[1], buf, 0) == 0 && send(sv[0], "e", 1, 0) == 1);
  CHECK(recv(sv[1], buf, sizeof(buf), 0) == 1 && buf[0] == 'e');
  close(sv[0]);
  close(sv[1]);

  CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
  CHECK(fcntl(sv[0], F_GETFD) & FD_CLOEXEC);
  CHECK(fcntl(sv[1], F_GETFL) & O_NONBLOCK);
  CHECK(read(sv[1], buf, sizeof(buf)) == -1 && errno == EAGAIN);
  CHECK(write(sv[0], "hello", 5) == 5 && write(sv[0], "wo", 2) == 2);
  struct pollfd pfd = {sv[1], POLLIN, 0};
  CHECK(poll(&pfd, 1, 1000) == 1 && (pfd.revents & POLLIN));
  struct iovec iov = {buf, 3};
  struct msghdr mh = {0};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  CHECK(recvmsg(sv[1], &mh, 0) == 3 && (mh.msg_flags & MSG_TRUNC) && memcmp(buf, "hel", 3) == 0);
  CHECK(read(sv[1], buf, sizeof(buf)) == 2 && memcmp(buf, "wo", 2) == 0);
  int type = 0;
  socklen_t tl = sizeof(type);
  CHECK(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_SEQPACKET);

  struct ucred cr;
  socklen_t cl = sizeof(cr);
  CHECK(getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0 && cl == sizeof(cr));
  CHECK(cr.pid == getpid() && cr.uid == getuid() && cr.gid == getgid());
  struct sockaddr_un sa;
  socklen_t len = sizeof(sa);
  CHECK(getsockname(sv[0], (struct sockaddr*)&sa, &len) == 0 && len == sizeof(sa_family_t) &&
        sa.sun_family == AF_UNIX);
  len = sizeof(sa);
  CHECK(getpeername(sv[0], (struct sockaddr*)&sa, &len) == 0 && len == sizeof(sa_family_t));
  close(sv[0]);
  close(sv[1]);
  CHECK(socketpair(AF_INET, SOCK_STREAM, 0, sv) == -1 && errno == EOPNOTSUPP);
}

// The child of paths(): connects twice (unnamed, then bound to "cli"),
// checks what it sees and exits with a bit per failed check.
static int path_client(const char* srv, pid_t server) {
  int bad = 0;
  struct sockaddr_un sa, got;
  socklen_t len = path_addr(&sa, srv);
  int c = socket(AF_UNIX, SOCK_STREAM, 0);
  if (connect(c, (struct sockaddr*)&sa, len) != 0) return 1;
  socklen_t gl = sizeof(got);
  if (getpeername(c, (struct sockaddr*)&got, &gl) != 0 || gl != len ||
      strcmp(got.sun_path, srv) != 0)
    bad |= 2;
  struct ucred cr;
  socklen_t cl = sizeof(cr);
  if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &cl) != 0 || cr.pid != server) bad |= 4;
  pid_t me = getpid();
  if (write(c, &me, sizeof(me)) != sizeof(me)) bad |= 8;
  char r;
  if (read(c, &r, 1) != 1 || r != 'k') bad |= 16;
  close(c);

  char cli[100];
  in_dir(cli, "cli");
  struct sockaddr_un ca;
  socklen_t clen = path_addr(&ca, cli);
  c = socket(AF_UNIX, SOCK_STREAM, 0);
  if (bind(c, (struct sockaddr*)&ca, clen) != 0) bad |= 32;
  if (connect(c, (struct sockaddr*)&sa, len) != 0) bad |= 64;
  if (read(c, &r, 1) != 1 || r != 'z') bad |= 128;
  close(c);
  return bad;
}

static void paths(void) {
  char srv[100], file[100], nolisten[100];
  in_dir(srv, "srv");
  in_dir(file, "plain");
  in_dir(nolisten, "nolisten");
  struct sockaddr_un sa, got;
  socklen_t len = path_addr(&sa, srv);

  int l = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
  CHECK(l >= 0);
  CHECK(bind(l, (struct sockaddr*)&sa, len) == 0);
  struct stat st;
  CHECK(stat(srv, &st) == 0 && S_ISSOCK(st.st_mode));
  socklen_t gl = sizeof(got);
  CHECK(getsockname(l, (struct sockaddr*)&got, &gl) == 0 && gl == len &&
        strcmp(got.sun_path, srv) == 0);
  CHECK(listen(l, 8) == 0);
  CHECK(accept(l, NULL, NULL) == -1 && errno == EAGAIN);
  struct ucred lc;
  socklen_t lcl = sizeof(lc);
  CHECK(getsockopt(l, SOL_SOCKET, SO_PEERCRED, &lc, &lcl) == 0 && lc.pid == getpid());

  int again = socket(AF_UNIX, SOCK_STREAM, 0);
  CHECK(bind(again, (struct sockaddr*)&sa, len) == -1 && errno == EADDRINUSE);
  close(again);
  // A bound socket cannot be bound again.
  struct sockaddr_un oa;
  char other[100];
  in_dir(other, "other");
  socklen_t ol = path_addr(&oa, other);
  CHECK(bind(l, (struct sockaddr*)&oa, ol) == -1 && errno == EINVAL);

  // Errors of connect: no such name, not a socket, a socket nobody listens on.
  struct sockaddr_un xa;
  char none[100];
  in_dir(none, "none");
  socklen_t xl = path_addr(&xa, none);
  int c = socket(AF_UNIX, SOCK_STREAM, 0);
  CHECK(connect(c, (struct sockaddr*)&xa, xl) == -1 && errno == ENOENT);
  close(open(file, O_CREAT | O_WRONLY, 0600));
  xl = path_addr(&xa, file);
  CHECK(connect(c, (struct sockaddr*)&xa, xl) == -1 && errno == ECONNREFUSED);
  int nl = socket(AF_UNIX, SOCK_STREAM, 0);
  xl = path_addr(&xa, nolisten);
  CHECK(bind(nl, (struct sockaddr*)&xa, xl) == 0);
  CHECK(connect(c, (struct sockaddr*)&xa, xl) == -1 && errno == ECONNREFUSED);
  close(nl);
  close(c);
  xl = path_addr(&xa, file);
  c = socket(AF_UNIX, SOCK_STREAM, 0);
  CHECK(bind(c, (struct sockaddr*)&xa, xl) == -1 && errno == EADDRINUSE);
  close(c);

  fflush(stdout);
  pid_t child = fork();
  if (child == 0) _exit(path_client(srv, getppid()));
  CHECK(child > 0);

  struct pollfd pfd = {l, POLLIN, 0};
  CHECK(poll(&pfd, 1, 5000) == 1 && (pfd.revents & POLLIN));
  struct sockaddr_un peer;
  socklen_t pl = sizeof(peer);
  int a = accept4(l, (struct sockaddr*)&peer, &pl, SOCK_CLOEXEC);
  CHECK(a >= 0);
  CHECK(pl == sizeof(sa_family_t));
  gl = sizeof(got);
  CHECK(getsockname(a, (struct sockaddr*)&got, &gl) == 0 && strcmp(got.sun_path, srv) == 0);
  struct ucred cr;
  socklen_t cl = sizeof(cr);
  CHECK(getsockopt(a, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0 && cr.pid == child);
  CHECK(cr.uid == getuid() && cr.gid == getgid());
  pid_t sent = 0;
  // Blocking reads on an accepted socket of a non-blocking listener.
  CHECK(read(a, &sent, sizeof(sent)) == sizeof(sent) && sent == child);
  CHECK(write(a, "k", 1) == 1);
  close(a);

  // A blocking accept (the guest clears O_NONBLOCK; the kernel's host
  // socket must stay non-blocking, or the client could never run).
  CHECK(fcntl(l, F_SETFL, 0) == 0 && !(fcntl(l, F_GETFL) & O_NONBLOCK));
  pl = sizeof(peer);
  a = accept(l, (struct sockaddr*)&peer, &pl);
  char cli[100];
  in_dir(cli, "cli");
  CHECK(a >= 0 && pl == offsetof(struct sockaddr_un, sun_path) + strlen(cli) + 1 &&
        strcmp(peer.sun_path, cli) == 0);
  pl = sizeof(peer);
  CHECK(getpeername(a, (struct sockaddr*)&peer, &pl) == 0 && strcmp(peer.sun_path, cli) == 0);
  CHECK(write(a, "z", 1) == 1);
  close(a);
  int status = -1;
  CHECK(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status)) printf("  client status %#x\n", status);
  close(l);
  unlink(srv);
  unlink(cli);
  unlink(file);
  unlink(nolisten);
}

static void abstract(void) {
  char name[64], other[64];
  sprintf(name, "pangaea-conformance-%d", (int)getpid());
  sprintf(other, "pangaea-conformance-none-%d", (int)getpid());
  struct sockaddr_un sa, got;
  socklen_t len = abstract_addr(&sa, name);
  int l = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  CHECK(bind(l, (struct sockaddr*)&sa, len) == 0 && listen(l, 4) == 0);
  socklen_t gl = sizeof(got);
  CHECK(getsockname(l, (struct sockaddr*)&got, &gl) == 0 && gl == len &&
        memcmp(&got, &sa, len) == 0);
  int dup = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  CHECK(bind(dup, (struct sockaddr*)&sa, len) == -1 && errno == EADDRINUSE);
  // Abstract names are per socket type.
  int st = socket(AF_UNIX, SOCK_STREAM, 0);
  CHECK(bind(st, (struct sockaddr*)&sa, len) == 0);
  int sc = socket(AF_UNIX, SOCK_STREAM, 0);
  CHECK(connect(sc, (struct sockaddr*)&sa, len) == -1 && errno == ECONNREFUSED);
  close(sc);
  close(st);
  int c = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  CHECK(connect(c, (struct sockaddr*)&sa, len) == 0);
  gl = sizeof(got);
  CHECK(getpeername(c, (struct sockaddr*)&got, &gl) == 0 && gl == len &&
        memcmp(&got, &sa, len) == 0);
  int a = accept(l, NULL, NULL);
  CHECK(a >= 0);
  char buf[8];
  CHECK(send(c, "one", 3, 0) == 3 && send(c, "two!", 4, 0) == 4);
  CHECK(recv(a, buf, sizeof(buf), 0) == 3 && recv(a, buf, sizeof(buf), 0) == 4);
  // The accepted end answers with the listener's name.
  CHECK(send(a, "back", 4, 0) == 4 && recv(c, buf, sizeof(buf), 0) == 4);
  gl = sizeof(got);
  CHECK(getsockname(a, (struct sockaddr*)&got, &gl) == 0 && gl == len &&
        memcmp(&got, &sa, len) == 0);
  struct ucred cr;
  socklen_t cl = sizeof(cr);
  CHECK(getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0 && cr.pid == getpid());
  close(a);
  close(c);
  // Closing an accepted end leaves the listener's name alone.
  c = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  CHECK(connect(c, (struct sockaddr*)&sa, len) == 0);
  a = accept(l, NULL, NULL);
  gl = sizeof(got);
  CHECK(a >= 0 && getpeername(c, (struct sockaddr*)&got, &gl) == 0 && gl == len &&
        memcmp(&got, &sa, len) == 0);
  close(a);
  close(c);
  struct sockaddr_un oa;
  socklen_t ol = abstract_addr(&oa, other);
  c = socket(AF_UNIX, SOCK_STREAM, 0);
  CHECK(connect(c, (struct sockaddr*)&oa, ol) == -1 && errno == ECONNREFUSED);
  close(c);
  // The name is free again once its socket is closed.
  close(l);
  CHECK(bind(dup, (struct sockaddr*)&sa, len) == 0);
  close(dup);

  // Autobind: an abstract name of five hex digits.
  int ab = socket(AF_UNIX, SOCK_DGRAM, 0);
  sa_family_t fam = AF_UNIX;
  CHECK(bind(ab, (struct sockaddr*)&fam, sizeof(fam)) == 0);
  gl = sizeof(got);
  CHECK(getsockname(ab, (struct sockaddr*)&got, &gl) == 0 &&
        gl == offsetof(struct sockaddr_un, sun_path) + 6 && got.sun_path[0] == 0);
  int s = socket(AF_UNIX, SOCK_DGRAM, 0);
  CHECK(sendto(s, "q", 1, 0, (struct sockaddr*)&got, gl) == 1);
  CHECK(recv(ab, buf, sizeof(buf), 0) == 1 && buf[0] == 'q');
  close(s);
  close(ab);
}

static void datagrams(void) {
  char p1[100], p2[100];
  in_dir(p1, "d1");
  in_dir(p2, "d2");
  struct sockaddr_un a1, a2, from;
  socklen_t l1 = path_addr(&a1, p1), l2 = path_addr(&a2, p2);
  int s1 = socket(AF_UNIX, SOCK_DGRAM, 0), s2 = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  CHECK(bind(s1, (struct sockaddr*)&a1, l1) == 0 && bind(s2, (struct sockaddr*)&a2, l2) == 0);
  CHECK(sendto(s1, "to2", 3, 0, (struct sockaddr*)&a2, l2) == 3);
  char buf[8];
  socklen_t fl = sizeof(from);
  CHECK(recvfrom(s2, buf, sizeof(buf), 0, (struct sockaddr*)&from, &fl) == 3);
  CHECK(fl == l1 && strcmp(from.sun_path, p1) == 0);
  CHECK(recvfrom(s2, buf, sizeof(buf), 0, NULL, NULL) == -1 && errno == EAGAIN);

  // sendmsg/recvmsg with names; an unnamed sender has no address.
  int u = socket(AF_UNIX, SOCK_DGRAM, 0);
  struct iovec iov = {"msg", 3};
  struct msghdr mh = {0};
  mh.msg_name = &a2;
  mh.msg_namelen = l2;
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  CHECK(sendmsg(u, &mh, 0) == 3);
  struct iovec riov = {buf, sizeof(buf)};
  struct msghdr rh = {0};
  rh.msg_name = &from;
  rh.msg_namelen = sizeof(from);
  rh.msg_iov = &riov;
  rh.msg_iovlen = 1;
  CHECK(recvmsg(s2, &rh, 0) == 3 && rh.msg_namelen == 0 && memcmp(buf, "msg", 3) == 0);
  CHECK(connect(u, (struct sockaddr*)&a1, l1) == 0);
  CHECK(send(u, "c", 1, 0) == 1 && recv(s1, buf, sizeof(buf), 0) == 1);
  fl = sizeof(from);
  CHECK(getpeername(u, (struct sockaddr*)&from, &fl) == 0 && strcmp(from.sun_path, p1) == 0);
  struct sockaddr unspec = {AF_UNSPEC};
  CHECK(connect(u, &unspec, sizeof(unspec)) == 0);
  fl = sizeof(from);
  CHECK(getpeername(u, (struct sockaddr*)&from, &fl) == -1 && errno == ENOTCONN);
  close(u);
  close(s1);
  close(s2);
  unlink(p1);
  unlink(p2);
}

// Names relative to the cwd, in a directory whose absolute path is longer
// than sun_path, and a name of 100 bytes.
static void long_names(void) {
  char deep[300], cwd[300];
  CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
  strcpy(deep, g_dir);
  for (int i = 0; i < 4; ++i) {
    strcat(deep, "/dddddddddddddddddddddddddddddd");
    mkdir(deep, 0700);
  }
  CHECK(strlen(deep) > sizeof(((struct sockaddr_un*)0)->sun_path));
  CHECK(chdir(deep) == 0);
  char longname[101];
  memset(longname, 'n', 100);
  longname[100] = 0;
  const char* names[2] = {"s", longname};
  for (int i = 0; i < 2; ++i) {
    struct sockaddr_un sa, got;
    socklen_t len = path_addr(&sa, names[i]);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(bind(l, (struct sockaddr*)&sa, len) == 0 && listen(l, 1) == 0);
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(connect(c, (struct sockaddr*)&sa, len) == 0);
    socklen_t gl = sizeof(got);
    CHECK(getsockname(l, (struct sockaddr*)&got, &gl) == 0 && strcmp(got.sun_path, names[i]) == 0);
    gl = sizeof(got);
    CHECK(getpeername(c, (struct sockaddr*)&got, &gl) == 0 && strcmp(got.sun_path, names[i]) == 0);
    int a = accept(l, NULL, NULL);
    CHECK(a >= 0 && write(c, "L", 1) == 1);
    char b = 0;
    CHECK(read(a, &b, 1) == 1 && b == 'L');
    struct stat st;
    CHECK(lstat(names[i], &st) == 0 && S_ISSOCK(st.st_mode));
    close(a);
    close(c);
    close(l);
    unlink(names[i]);
  }
  CHECK(chdir(cwd) == 0);
  for (int i = 0; i < 4; ++i) {
    rmdir(deep);
    *strrchr(deep, '/') = 0;
  }
}

static int send_fds(int s, const int* fds, int n, const char* data) {
  char ctl[CMSG_SPACE(sizeof(int) * 4)];
  memset(ctl, 0, sizeof(ctl));
  struct iovec iov = {(void*)data, strlen(data)};
  struct msghdr mh = {0};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = ctl;
  mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
  struct cmsghdr* c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * n);
  memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
  return sendmsg(s, &mh, 0);
}

// Receives into `fds` (up to 4); returns the fd count, or -1. *flags gets
// msg_flags.
static int recv_fds(int s, int* fds, size_t ctl_len, int rflags, int* flags) {
  char ctl[CMSG_SPACE(sizeof(int) * 4)];
  char buf[16];
  struct iovec iov = {buf, sizeof(buf)};
  struct msghdr mh = {0};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = ctl;
  mh.msg_controllen = ctl_len;
  if (recvmsg(s, &mh, rflags) < 0) return -1;
  *flags = mh.msg_flags;
  int n = 0;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    memcpy(fds + n, CMSG_DATA(c), sizeof(int) * k);
    n += k;
  }
  return n;
}

static void rights(void) {
  int sv[2], pp[2], got[4], flags = 0;
  char file[100], b = 0;
  in_dir(file, "rights");
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 && pipe(pp) == 0);
  int f = open(file, O_CREAT | O_RDWR, 0600);
  CHECK(f >= 0 && write(f, "abc", 3) == 3);
  int two[2] = {pp[1], f};
  CHECK(send_fds(sv[0], two, 2, "r") == 1);
  close(pp[1]);
  close(f);
  CHECK(recv_fds(sv[1], got, sizeof(got) + 64, MSG_CMSG_CLOEXEC, &flags) == 2 &&
        !(flags & MSG_CTRUNC));
  CHECK(fcntl(got[0], F_GETFD) & FD_CLOEXEC);
  // The same open files: the pipe's write end, the file's offset.
  CHECK(write(got[0], "p", 1) == 1 && read(pp[0], &b, 1) == 1 && b == 'p');
  CHECK(lseek(got[1], 0, SEEK_CUR) == 3);
  struct stat a, c;
  CHECK(fstat(got[1], &a) == 0 && stat(file, &c) == 0 && a.st_ino == c.st_ino);
  close(got[0]);
  close(got[1]);
  // No copy of the write end is left anywhere: the reader sees EOF.
  CHECK(read(pp[0], &b, 1) == 0);
  close(pp[0]);

  // Too little room: one fd arrives, MSG_CTRUNC; the other is closed.
  CHECK(pipe(pp) == 0);
  int both[2] = {pp[1], pp[1]};
  CHECK(send_fds(sv[0], both, 2, "t") == 1);
  close(pp[1]);
  CHECK(recv_fds(sv[1], got, CMSG_LEN(sizeof(int)), 0, &flags) == 1 && (flags & MSG_CTRUNC));
  close(got[0]);
  CHECK(read(pp[0], &b, 1) == 0);
  close(pp[0]);

  // read(2) of a message with fds drops them.
  CHECK(pipe(pp) == 0);
  CHECK(send_fds(sv[0], &pp[1], 1, "d") == 1);
  close(pp[1]);
  CHECK(read(sv[1], &b, 1) == 1 && b == 'd');
  CHECK(read(pp[0], &b, 1) == 0);
  close(pp[0]);

  // Files in flight to a socket that is closed are closed with it.
  int lost[2];
  CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, lost) == 0 && pipe(pp) == 0);
  CHECK(send_fds(lost[0], &pp[1], 1, "l") == 1);
  close(pp[1]);
  close(lost[0]);
  close(lost[1]);
  CHECK(read(pp[0], &b, 1) == 0);
  close(pp[0]);

  // A socket itself, through a datagram pair; a bad fd is EBADF.
  int dv[2];
  CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, dv) == 0);
  CHECK(send_fds(dv[0], &sv[0], 1, "s") == 1);
  CHECK(recv_fds(dv[1], got, sizeof(got) + 64, 0, &flags) == 1);
  CHECK(write(got[0], "v", 1) == 1 && read(sv[1], &b, 1) == 1 && b == 'v');
  close(got[0]);
  int bad = 999;
  CHECK(send_fds(dv[0], &bad, 1, "x") == -1 && errno == EBADF);
  // MSG_PEEK gives the fds and leaves them in the message.
  CHECK(pipe(pp) == 0);
  CHECK(send_fds(dv[0], &pp[1], 1, "k") == 1);
  close(pp[1]);
  CHECK(recv_fds(dv[1], got, sizeof(got) + 64, MSG_PEEK, &flags) == 1);
  close(got[0]);
  CHECK(recv_fds(dv[1], got, sizeof(got) + 64, 0, &flags) == 1);
  CHECK(write(got[0], "q", 1) == 1 && read(pp[0], &b, 1) == 1 && b == 'q');
  close(got[0]);
  CHECK(read(pp[0], &b, 1) == 0);
  close(pp[0]);
  close(dv[0]);
  close(dv[1]);

  // SO_PASSCRED: the sender's credentials (here the pair's creator).
  int on = 1;
  CHECK(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) == 0);
  CHECK(write(sv[0], "c", 1) == 1);
  char ctl[CMSG_SPACE(sizeof(struct ucred))];
  struct iovec iov = {&b, 1};
  struct msghdr mh = {0};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = ctl;
  mh.msg_controllen = sizeof(ctl);
  CHECK(recvmsg(sv[1], &mh, 0) == 1);
  struct cmsghdr* cm = CMSG_FIRSTHDR(&mh);
  CHECK(cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS);
  struct ucred cr;
  if (cm) memcpy(&cr, CMSG_DATA(cm), sizeof(cr));
  CHECK(cm && cr.pid == getpid() && cr.uid == getuid() && cr.gid == getgid());
  close(sv[0]);
  close(sv[1]);
  unlink(file);
}

// Receives one datagram with its sender's address and credentials; returns
// the credentials' pid (0: none).
static pid_t recv_cred(int s, struct sockaddr_un* from, socklen_t* fl) {
  char b, ctl[CMSG_SPACE(sizeof(struct ucred))];
  struct iovec iov = {&b, 1};
  struct msghdr mh = {0};
  mh.msg_name = from;
  mh.msg_namelen = *fl;
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = ctl;
  mh.msg_controllen = sizeof(ctl);
  if (recvmsg(s, &mh, 0) != 1) return -1;
  *fl = mh.msg_namelen;
  struct cmsghdr* c = CMSG_FIRSTHDR(&mh);
  if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_CREDENTIALS) return 0;
  struct ucred u;
  memcpy(&u, CMSG_DATA(c), sizeof(u));
  if (u.uid != getuid() || u.gid != getgid()) return -2;
  return u.pid;
}

static void credentials(void) {
  char rp[100];
  in_dir(rp, "creds");
  struct sockaddr_un ra, from;
  socklen_t rl = path_addr(&ra, rp), fl;
  int r = socket(AF_UNIX, SOCK_DGRAM, 0), on = 1;
  CHECK(bind(r, (struct sockaddr*)&ra, rl) == 0);
  CHECK(setsockopt(r, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) == 0);
  // A named sender in another process (gone before the receive): its
  // address and its credentials.
  char sp[100];
  in_dir(sp, "sender");
  struct sockaddr_un sa;
  socklen_t sal = path_addr(&sa, sp);
  fflush(stdout);
  pid_t child = fork();
  if (child == 0) {
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (bind(s, (struct sockaddr*)&sa, sal) != 0) _exit(2);
    _exit(sendto(s, "c", 1, 0, (struct sockaddr*)&ra, rl) == 1 ? 0 : 1);
  }
  int status = -1;
  CHECK(waitpid(child, &status, 0) == child && status == 0);
  fl = sizeof(from);
  CHECK(recv_cred(r, &from, &fl) == child);
  CHECK(fl == sal && strcmp(from.sun_path, sp) == 0);
  unlink(sp);

  // A process may state its own credentials. A sender with SO_PASSCRED is
  // autobound at its first send.
  int s = socket(AF_UNIX, SOCK_DGRAM, 0);
  CHECK(setsockopt(s, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) == 0);
  char ctl[CMSG_SPACE(sizeof(struct ucred))];
  memset(ctl, 0, sizeof(ctl));
  struct iovec iov = {"o", 1};
  struct msghdr mh = {0};
  mh.msg_name = &ra;
  mh.msg_namelen = rl;
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = ctl;
  mh.msg_controllen = sizeof(ctl);
  struct cmsghdr* c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_CREDENTIALS;
  c->cmsg_len = CMSG_LEN(sizeof(struct ucred));
  struct ucred me = {getpid(), getuid(), getgid()};
  memcpy(CMSG_DATA(c), &me, sizeof(me));
  CHECK(sendmsg(s, &mh, 0) == 1);
  fl = sizeof(from);
  CHECK(recv_cred(r, &from, &fl) == getpid());
  CHECK(fl == offsetof(struct sockaddr_un, sun_path) + 6 && from.sun_path[0] == 0);
  // The autobound name answers like any other.
  struct sockaddr_un sn;
  socklen_t sl = sizeof(sn);
  CHECK(getsockname(s, (struct sockaddr*)&sn, &sl) == 0 && sl == fl &&
        memcmp(&sn, &from, sl) == 0);
  CHECK(sendto(r, "b", 1, 0, (struct sockaddr*)&from, fl) == 1);
  char b = 0;
  CHECK(recv(s, &b, 1, 0) == 1 && b == 'b');
  close(s);
  close(r);
  unlink(rp);
}

// Blocking connects to a listener with a backlog of one: each waits until
// the other process accepts.
static void backlog(void) {
  char bp[100];
  in_dir(bp, "backlog");
  struct sockaddr_un a;
  socklen_t al = path_addr(&a, bp);
  int l = socket(AF_UNIX, SOCK_STREAM, 0);
  CHECK(bind(l, (struct sockaddr*)&a, al) == 0 && listen(l, 1) == 0);
  fflush(stdout);
  pid_t c = fork();
  if (c == 0) {
    for (int i = 0; i < 6; ++i) {
      int s = socket(AF_UNIX, SOCK_STREAM, 0);
      if (connect(s, (struct sockaddr*)&a, al) != 0 || write(s, "x", 1) != 1) _exit(1);
    }
    _exit(0);
  }
  int got = 0;
  for (int i = 0; i < 6; ++i) {
    int s = accept(l, NULL, NULL);
    char b;
    if (s >= 0 && read(s, &b, 1) == 1) got++;
    close(s);
  }
  int st = -1;
  CHECK(got == 6 && waitpid(c, &st, 0) == c && st == 0);
  close(l);
  unlink(bp);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  strcpy(g_dir, "/tmp/pangaea-unix-XXXXXX");
  CHECK(mkdtemp(g_dir) != NULL);
  socketpairs();
  paths();
  abstract();
  datagrams();
  long_names();
  rights();
  credentials();
  backlog();
  CHECK(rmdir(g_dir) == 0);
  return DONE();
}
