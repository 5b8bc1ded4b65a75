// A hostile guest (run only in the guest, with a root of its own): raw
// syscall instructions, 32-bit entries, paths out of the root, the stub's
// memory and its injection site. It must get only what the guest kernel
// gives: never a host syscall. The runner also checks that the host marker
// file this program tries to create never appears on the host.
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static const char kMarker[] = "/tmp/pangaea-hostile-marker";

static long raw6(long nr, long a, long b, long c) {
  long ret;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return ret;
}

static long int80(long nr) {
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr) : "memory");
  return ret;
}

int main(void) {
  // Our pid in the guest, not the host's.
  CHECK(raw6(SYS_getpid, 0, 0, 0) == 1);
  // Host files outside the root do not exist for the guest.
  CHECK(raw6(SYS_openat, AT_FDCWD, (long)"/etc/passwd", O_RDONLY) == -ENOENT);
  CHECK(raw6(SYS_openat, AT_FDCWD, (long)"/../../../../../etc/passwd", O_RDONLY) == -ENOENT);
  CHECK(open("/escape_abs", O_RDONLY) == -1);  // -> /etc/passwd
  CHECK(open("/escape_rel", O_RDONLY) == -1);  // -> ../../../../etc/passwd
  CHECK(open("/proc/1/root/etc/passwd", O_RDONLY) == -1);
  CHECK(open("/proc/self/root/etc/passwd", O_RDONLY) == -1);
  // The 32-bit entry is refused, not passed to the host.
  CHECK(int80(20 /* i386 getpid */) == -ENOSYS);
  // No host ptrace.
  CHECK(raw6(SYS_ptrace, PTRACE_TRACEME, 0, 0) == -ENOSYS);
  // Unix sockets are the guest's: names resolve inside the root, so a path
  // or a symlink out of it leads nowhere (docker.sock, the init socket...).
  {
    long s = raw6(SYS_socket, 1 /* AF_UNIX */, 1 /* SOCK_STREAM */, 0);
    CHECK(s >= 0);
    struct sockaddr_un sa = {AF_UNIX, "/escape_abs"};
    CHECK(raw6(SYS_connect, s, (long)&sa, sizeof(sa)) == -ENOENT);
    strcpy(sa.sun_path, "/../../../run/systemd/private");
    CHECK(raw6(SYS_connect, s, (long)&sa, sizeof(sa)) == -ENOENT);
    strcpy(sa.sun_path, "/proc/self/fd/0");
    CHECK(raw6(SYS_connect, s, (long)&sa, sizeof(sa)) < 0);
    // The host's abstract namespace is not the guest's.
    memcpy(sa.sun_path, "\0/org/freedesktop/systemd1/notify", 34);
    CHECK(raw6(SYS_connect, s, (long)&sa, 2 + 34) == -ECONNREFUSED);
    CHECK(raw6(SYS_connect, s, (long)&sa, 4096) == -EINVAL);
    CHECK(raw6(SYS_bind, s, 0x10, sizeof(sa)) == -EFAULT);
    close(s);
    // Lying control messages: too long, past their buffer, bad pointers,
    // too many fds. None may reach the host or hurt the kernel.
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);
    char ctl[CMSG_SPACE(sizeof(int) * 300)];
    memset(ctl, 0, sizeof(ctl));
    struct iovec iov = {"x", 1};
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl;
    mh.msg_controllen = 1 << 30;
    CHECK(raw6(SYS_sendmsg, sv[0], (long)&mh, 0) < 0);
    struct cmsghdr* c = (struct cmsghdr*)ctl;
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = 4096;
    mh.msg_controllen = CMSG_SPACE(sizeof(int));
    CHECK(raw6(SYS_sendmsg, sv[0], (long)&mh, 0) == -EINVAL);
    c->cmsg_len = CMSG_LEN(sizeof(int) * 300);
    mh.msg_controllen = sizeof(ctl);
    CHECK(raw6(SYS_sendmsg, sv[0], (long)&mh, 0) == -EINVAL);
    mh.msg_control = (void*)0x10;
    mh.msg_controllen = CMSG_SPACE(sizeof(int));
    CHECK(raw6(SYS_sendmsg, sv[0], (long)&mh, 0) == -EFAULT);
    // A real one, received into a bad buffer: EFAULT, the kernel lives on.
    mh.msg_control = ctl;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &sv[0], sizeof(int));
    CHECK(raw6(SYS_sendmsg, sv[0], (long)&mh, 0) == 1);
    mh.msg_control = (void*)0x10;
    CHECK(raw6(SYS_recvmsg, sv[1], (long)&mh, 0) == -EFAULT);
    CHECK(raw6(SYS_recvmsg, sv[1], 0x10, 0) == -EFAULT);
    close(sv[0]);
    close(sv[1]);
  }
  // epoll with bad pointers, absurd counts, itself and deep nesting: clear
  // errors, and the kernel lives on.
  {
    int ep = epoll_create1(0);
    int p[2];
    CHECK(ep >= 0 && pipe(p) == 0);
    struct epoll_event ev = {EPOLLIN, {0}};
    CHECK(syscall(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, p[0], 0x10) == -1 && errno == EFAULT);
    CHECK(syscall(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, ep, &ev) == -1 && errno == EINVAL);
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) == 0);
    CHECK(write(p[1], "x", 1) == 1);
    CHECK(syscall(SYS_epoll_wait, ep, 0x10, 4, 0) == -1 && errno == EFAULT);
    CHECK(syscall(SYS_epoll_wait, ep, -4096L, 4, 0) == -1 && errno == EFAULT);
    CHECK(syscall(SYS_epoll_wait, ep, &ev, 0x7fffffff, 0) == -1 && errno == EINVAL);
    // A huge maxevents with one event ready writes one event.
    CHECK(syscall(SYS_epoll_wait, ep, &ev, 0x7fffffff / 12, 0) == 1);
    CHECK(syscall(SYS_epoll_pwait, ep, &ev, 1, 0, 0x10, 8) == -1 && errno == EFAULT);
    CHECK(syscall(SYS_epoll_pwait2, ep, &ev, 1, 0x10, 0, 8) == -1 && errno == EFAULT);
    // A chain of epolls: refused (ELOOP) past some depth, never a loop.
    int chain[8], eloop = 0;
    chain[0] = ep;
    for (int i = 1; i < 8; ++i) {
      chain[i] = epoll_create1(0);
      if (epoll_ctl(chain[i], EPOLL_CTL_ADD, chain[i - 1], &ev) < 0 && errno == ELOOP) ++eloop;
    }
    CHECK(eloop > 0);
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, chain[2], &ev) == -1 && errno == ELOOP);
    CHECK(syscall(SYS_epoll_wait, chain[3], &ev, 1, 0) == 1);
    // Entries for thousands of fds added and dropped by closing them.
    for (int i = 0; i < 2000; ++i) {
      int q[2];
      if (pipe(q) != 0) break;
      epoll_ctl(chain[7], EPOLL_CTL_ADD, q[0], &ev);
      close(q[0]);
      close(q[1]);
    }
    for (int i = 0; i < 8; ++i) close(chain[i]);
    CHECK(syscall(SYS_epoll_wait, ep, &ev, 1, 0) == -1 && errno == EBADF);
    close(p[0]);
    close(p[1]);
  }
  // eventfd and timerfd with bad pointers and lying sizes.
  {
    int efd = eventfd(1, EFD_NONBLOCK);
    CHECK(efd >= 0);
    CHECK(raw6(SYS_read, efd, 0x10, 8) == -EFAULT);
    CHECK(raw6(SYS_write, efd, 0x10, 8) == -EFAULT);
    CHECK(raw6(SYS_read, efd, (long)&g_failures, 2) == -EINVAL);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    CHECK(tfd >= 0);
    CHECK(syscall(SYS_timerfd_settime, tfd, 0, 0x10, 0) == -1 && errno == EFAULT);
    CHECK(syscall(SYS_timerfd_gettime, tfd, 0x10) == -1 && errno == EFAULT);
    struct itimerspec it = {{0, 1}, {0, 1}};  // a 1 ns period: counts, never floods
    CHECK(timerfd_settime(tfd, 0, &it, NULL) == 0);
    usleep(2000);
    uint64_t n = 0;
    CHECK(read(tfd, &n, sizeof n) == 8 && n > 1);
    close(tfd);
    close(efd);
  }
  // The stub's memory is not the guest's to map over or unmap.
  CHECK(mmap((void*)0x7f8000000000, 4096, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED);
  CHECK(munmap((void*)0x7f8000000000, 1 << 20) == -1);
  // Bad pointers and absurd lengths.
  CHECK(raw6(SYS_write, 1, 0x10, 10) == -EFAULT);
  CHECK(raw6(SYS_openat, AT_FDCWD, 0x10, O_RDONLY) == -EFAULT);
  CHECK(raw6(SYS_read, 0, (long)&g_failures, 1L << 40) < 0 || 1);
  CHECK(raw6(SYS_mmap, 0, -4096L, PROT_READ) < 0);

  // Find the stub's injection site ("int3; syscall; jmp") in its text and
  // jump to it with an openat of a host path: under PTRACE_SYSEMU that is
  // still a guest syscall, so the host marker must not appear. The child is
  // expected to die afterwards (the stub's int3 is a SIGTRAP for it).
  const unsigned char* text = (const unsigned char*)0x7f8000001000;
  const unsigned char* site = NULL;
  for (int i = 0; i < 4096 - 4; ++i)
    if (text[i] == 0xcc && text[i + 1] == 0x0f && text[i + 2] == 0x05) site = text + i + 1;
  CHECK(site != NULL);
  fflush(stdout);
  pid_t c = fork();
  if (c == 0 && site) {
    register long rax __asm__("rax") = SYS_openat;
    register long rdi __asm__("rdi") = AT_FDCWD;
    register long rsi __asm__("rsi") = (long)kMarker;
    register long rdx __asm__("rdx") = O_CREAT | O_WRONLY;
    register long r10 __asm__("r10") = 0644;
    __asm__ volatile("jmp *%5" : : "r"(rax), "r"(rdi), "r"(rsi), "r"(rdx), "r"(r10), "r"(site));
  }
  if (c == 0) _exit(0);
  int status = 0;
  CHECK(waitpid(c, &status, 0) == c);
  printf("done\n");
  return DONE();
}
