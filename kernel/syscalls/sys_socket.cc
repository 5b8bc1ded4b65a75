// Sockets: AF_INET and AF_INET6 go through the host (the guest shares the
// host's network, as UML's slirp-less setups and gVisor's hostinet do).
// AF_UNIX sockets are the guest's own (sys_unix_socket.cc, fs/unix_socket.h:
// names inside the root and a private abstract namespace); every other
// family is refused. Host sockets are always non-blocking; a
// guest call that would block blocks only its process, which the scheduler
// wakes when poll() says the host socket is ready.

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "kernel/syscalls/handlers.h"
#include "kernel/syscalls/socket_common.h"
#include "kernel/syscalls/util.h"

namespace kernel::syscalls {
namespace {

constexpr size_t kMaxSockaddr = 128;

bool allowed_family(int family) { return family == AF_INET || family == AF_INET6; }

Result<int> host_socket_fd(task::Process& p, int fd) {
  auto f = TRY(p.fds.get(fd));
  if (f->path().rfind("socket:", 0) != 0 || f->host_fd() < 0) return Errno(ENOTSOCK);
  return f->host_fd();
}

bool guest_nonblocking(task::Process& p, int fd) {
  auto f = p.fds.get(fd);
  return f.ok() && ((*f)->flags() & O_NONBLOCK);
}

Result<std::vector<uint8_t>> copy_in_sockaddr(task::Process& p, uint64_t addr, uint64_t len) {
  if (len > kMaxSockaddr) return Errno(EINVAL);
  std::vector<uint8_t> sa(len);
  if (len) TRY(p.mm->copy_in(addr, sa.data(), len));
  if (len >= sizeof(sa_family_t)) {
    sa_family_t fam;
    std::memcpy(&fam, sa.data(), sizeof(fam));
    if (!allowed_family(fam) && fam != AF_UNSPEC) return Errno(EAFNOSUPPORT);
  }
  return sa;
}

Result<uint64_t> install_socket(task::Process& p, int host, int flags) {
  static uint64_t next_id = 1000;
  auto f = fs::make_host_file(base::UniqueFd(host), "socket:[" + std::to_string(next_id++) + "]",
                              O_RDWR | (flags & SOCK_NONBLOCK ? O_NONBLOCK : 0));
  return static_cast<uint64_t>(TRY(p.fds.install(f, flags & SOCK_CLOEXEC)));
}

}  // namespace

Result<uint64_t> would_block(task::Kernel& k, task::Process& p, int fd, int host, short events,
                             int err) {
  if (guest_nonblocking(p, fd)) return Errno(err);
  k.block_on_host(p, host, events);
  return Errno(kRestart);
}

Result<void> copy_out_sockaddr(task::Process& p, uint64_t addr, uint64_t lenp, const void* sa,
                               socklen_t len) {
  if (!addr || !lenp) return {};
  uint32_t cap = TRY(p.mm->copy_in(mm::UserPtr<uint32_t>(lenp)));
  if (static_cast<int32_t>(cap) < 0) return Errno(EINVAL);
  TRY(p.mm->copy_out(addr, sa, std::min<uint32_t>(cap, len)));
  uint32_t full = len;
  TRY(p.mm->copy_out(mm::UserPtr<uint32_t>(lenp), full));
  return {};
}

fs::UnixSocket* unix_socket_of(task::Process& p, int fd) {
  auto f = p.fds.get(fd);
  if (!f.ok()) return nullptr;
  return dynamic_cast<fs::UnixSocket*>(f->get());
}

PANGAEA_SYSCALL(socket) {
  int family = arg_int(a.a[0]), type = arg_int(a.a[1]);
  if (family == AF_UNIX) return unix_socket(k, p, type, arg_int(a.a[2]));
  if (!allowed_family(family)) return Errno(EAFNOSUPPORT);
  int host = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, arg_int(a.a[2]));
  if (host < 0) return Errno::last();
  return install_socket(p, host, type);
}

PANGAEA_SYSCALL(connect) {
  if (auto* u = unix_socket_of(p, arg_int(a.a[0])))
    return unix_connect(k, p, arg_int(a.a[0]), *u, a.a[1], a.a[2]);
  int host = TRY(host_socket_fd(p, arg_int(a.a[0])));
  auto sa = TRY(copy_in_sockaddr(p, a.a[1], a.a[2]));
  if (t.connect_pending) {
    // Dispatched again after waiting: the outcome of the first attempt.
    t.connect_pending = false;
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (::getsockopt(host, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr) return Errno(soerr);
    sockaddr_storage peer;
    socklen_t plen = sizeof(peer);
    if (::getpeername(host, reinterpret_cast<sockaddr*>(&peer), &plen) == 0) return 0;
  }
  if (::connect(host, reinterpret_cast<sockaddr*>(sa.data()), sa.size()) == 0) return 0;
  int err = errno;
  if ((err == EINPROGRESS || err == EALREADY) && !guest_nonblocking(p, arg_int(a.a[0])))
    t.connect_pending = true;
  if (err == EINPROGRESS || err == EALREADY)
    return would_block(k, p, arg_int(a.a[0]), host, POLLOUT, err);
  return Errno(err);
}

PANGAEA_SYSCALL(bind) {
  if (auto* u = unix_socket_of(p, arg_int(a.a[0]))) return unix_bind(k, p, *u, a.a[1], a.a[2]);
  int host = TRY(host_socket_fd(p, arg_int(a.a[0])));
  auto sa = TRY(copy_in_sockaddr(p, a.a[1], a.a[2]));
  if (::bind(host, reinterpret_cast<sockaddr*>(sa.data()), sa.size()) < 0) return Errno::last();
  return 0;
}

PANGAEA_SYSCALL(listen) {
  (void)k;
  if (auto* u = unix_socket_of(p, arg_int(a.a[0]))) return unix_listen(p, *u, arg_int(a.a[1]));
  int host = TRY(host_socket_fd(p, arg_int(a.a[0])));
  if (::listen(host, arg_int(a.a[1])) < 0) return Errno::last();
  return 0;
}

PANGAEA_SYSCALL(accept4) {
  int host = TRY(host_socket_fd(p, arg_int(a.a[0])));
  int flags = arg_int(a.a[3]);
  if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) return Errno(EINVAL);
  if (auto* u = unix_socket_of(p, arg_int(a.a[0])))
    return unix_accept4(k, p, arg_int(a.a[0]), *u, a.a[1], a.a[2], flags);
  sockaddr_storage ss = {};
  socklen_t len = sizeof(ss);
  int c = ::accept4(host, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (c < 0) {
    if (errno == EAGAIN) return would_block(k, p, arg_int(a.a[0]), host, POLLIN, EAGAIN);
    return Errno::last();
  }
  uint64_t fd = TRY(install_socket(p, c, flags));
  TRY(copy_out_sockaddr(p, a.a[1], a.a[2], &ss, len));
  return fd;
}

PANGAEA_SYSCALL(accept) {
  SyscallArgs b = a;
  b.a[3] = 0;
  return sys_accept4(k, p, t, b);
}

PANGAEA_SYSCALL(getsockname) {
  (void)k;
  if (auto* u = unix_socket_of(p, arg_int(a.a[0]))) return unix_getsockname(p, *u, a.a[1], a.a[2]);
  int host = TRY(host_socket_fd(p, arg_int(a.a[0])));
  sockaddr_storage ss = {};
  socklen_t len = sizeof(ss);
  if (::getsockname(host, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return Errno::last();
  TRY(copy_out_sockaddr(p, a.a[1], a.a[2], &ss, len));
  return 0;
}

PANGAEA_SYSCALL(getpeername) {
  (void)k;
  if (auto* u = unix_socket_of(p, arg_int(a.a[0]))) return unix_getpeername(p, *u, a.a[1], a.a[2]);
  int host = TRY(host_socket_fd(p, arg_int(a.a[0])));
  sockaddr_storage ss = {};
  socklen_t len = sizeof(ss);
  if (::getpeername(host, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return Errno::last();
  TRY(copy_out_sockaddr(p, a.a[1], a.a[2], &ss, len));
  return 0;
}

PANGAEA_SYSCALL(sendto) {
  int host = TRY(host_socket_fd(p, arg_int(a.a[0])));
  if (auto* u = unix_socket_of(p, arg_int(a.a[0]))) {
    auto iov = TRY(p.mm->host_iovecs(a.a[1], std::min<uint64_t>(a.a[2], 1 << 20), false));
    return unix_send(k, p, arg_int(a.a[0]), *u, std::move(iov), a.a[4], a.a[5], nullptr,
                     arg_int(a.a[3]));
  }
  std::vector<uint8_t> sa;
  if (a.a[4]) sa = TRY(copy_in_sockaddr(p, a.a[4], a.a[5]));
  auto iov = TRY(p.mm->host_iovecs(a.a[1], std::min<uint64_t>(a.a[2], 1 << 20), false));
  msghdr msg = {};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = iov.size();
  msg.msg_name = sa.empty() ? nullptr : sa.data();
  msg.msg_namelen = sa.size();
  ssize_t n = ::sendmsg(host, &msg, arg_int(a.a[3]) | MSG_NOSIGNAL);
  if (n < 0 && errno == EAGAIN && !(arg_int(a.a[3]) & MSG_DONTWAIT))
    return would_block(k, p, arg_int(a.a[0]), host, POLLOUT, EAGAIN);
  if (n < 0 && errno == EPIPE && !(arg_int(a.a[3]) & MSG_NOSIGNAL)) k.signal(p, SIGPIPE);
  if (n < 0) return Errno::last();
  return static_cast<uint64_t>(n);
}

PANGAEA_SYSCALL(recvfrom) {
  int host = TRY(host_socket_fd(p, arg_int(a.a[0])));
  auto iov = TRY(p.mm->host_iovecs(a.a[1], std::min<uint64_t>(a.a[2], 1 << 20), true));
  if (auto* u = unix_socket_of(p, arg_int(a.a[0])))
    return unix_recv(k, p, arg_int(a.a[0]), *u, std::move(iov), a.a[4], a.a[5], 0, arg_int(a.a[3]));
  sockaddr_storage ss = {};
  msghdr msg = {};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = iov.size();
  msg.msg_name = &ss;
  msg.msg_namelen = sizeof(ss);
  ssize_t n = ::recvmsg(host, &msg, arg_int(a.a[3]) | MSG_DONTWAIT);
  if (n < 0 && errno == EAGAIN && !(arg_int(a.a[3]) & MSG_DONTWAIT))
    return would_block(k, p, arg_int(a.a[0]), host, POLLIN, EAGAIN);
  if (n < 0) return Errno::last();
  TRY(copy_out_sockaddr(p, a.a[4], a.a[5], &ss, msg.msg_namelen));
  return static_cast<uint64_t>(n);
}

namespace {

// A guest msghdr as host iovecs; control messages are not carried (partial).
struct HostMsg {
  msghdr msg = {};
  std::vector<iovec> iov;
  std::vector<uint8_t> name;
};

}  // namespace

Result<std::vector<iovec>> copy_in_msg_iov(task::Process& p, const msghdr& gm,
                                           bool write_to_guest) {
  if (gm.msg_iovlen > 1024) return Errno(EMSGSIZE);
  std::vector<iovec> giov(gm.msg_iovlen), out;
  if (gm.msg_iovlen)
    TRY(p.mm->copy_in(reinterpret_cast<uint64_t>(gm.msg_iov), giov.data(),
                      giov.size() * sizeof(iovec)));
  uint64_t total = 0;
  for (const auto& v : giov) {
    if (total + v.iov_len > (1u << 20)) break;
    auto part =
        TRY(p.mm->host_iovecs(reinterpret_cast<uint64_t>(v.iov_base), v.iov_len, write_to_guest));
    out.insert(out.end(), part.begin(), part.end());
    total += v.iov_len;
  }
  return out;
}

namespace {

Result<HostMsg> copy_in_msghdr(task::Process& p, uint64_t addr, bool write_to_guest) {
  msghdr gm = TRY(p.mm->copy_in(mm::UserPtr<msghdr>(addr)));
  HostMsg hm;
  hm.iov = TRY(copy_in_msg_iov(p, gm, write_to_guest));
  if (gm.msg_name && gm.msg_namelen) {
    if (write_to_guest) {
      hm.name.resize(sizeof(sockaddr_storage));
    } else {
      hm.name = TRY(copy_in_sockaddr(p, reinterpret_cast<uint64_t>(gm.msg_name), gm.msg_namelen));
    }
  }
  hm.msg.msg_iov = hm.iov.data();
  hm.msg.msg_iovlen = hm.iov.size();
  hm.msg.msg_name = hm.name.empty() ? nullptr : hm.name.data();
  hm.msg.msg_namelen = hm.name.size();
  return hm;
}

}  // namespace

PANGAEA_SYSCALL(sendmsg) {
  int fd = arg_int(a.a[0]), flags = arg_int(a.a[2]);
  int host = TRY(host_socket_fd(p, fd));
  if (auto* u = unix_socket_of(p, fd)) {
    msghdr gm = TRY(p.mm->copy_in(mm::UserPtr<msghdr>(a.a[1])));
    auto iov = TRY(copy_in_msg_iov(p, gm, false));
    return unix_send(k, p, fd, *u, std::move(iov), reinterpret_cast<uint64_t>(gm.msg_name),
                     gm.msg_namelen, &gm, flags);
  }
  HostMsg hm = TRY(copy_in_msghdr(p, a.a[1], false));
  ssize_t n = ::sendmsg(host, &hm.msg, flags | MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0 && errno == EAGAIN && !(flags & MSG_DONTWAIT))
    return would_block(k, p, fd, host, POLLOUT, EAGAIN);
  if (n < 0 && errno == EPIPE && !(flags & MSG_NOSIGNAL)) k.signal(p, SIGPIPE);
  if (n < 0) return Errno::last();
  return static_cast<uint64_t>(n);
}

PANGAEA_SYSCALL(recvmsg) {
  int fd = arg_int(a.a[0]), flags = arg_int(a.a[2]);
  int host = TRY(host_socket_fd(p, fd));
  if (auto* u = unix_socket_of(p, fd)) {
    msghdr gm = TRY(p.mm->copy_in(mm::UserPtr<msghdr>(a.a[1])));
    auto iov = TRY(copy_in_msg_iov(p, gm, true));
    return unix_recv(k, p, fd, *u, std::move(iov), 0, 0, a.a[1], flags);
  }
  HostMsg hm = TRY(copy_in_msghdr(p, a.a[1], true));
  ssize_t n = ::recvmsg(host, &hm.msg, flags | MSG_DONTWAIT);
  if (n < 0 && errno == EAGAIN && !(flags & MSG_DONTWAIT))
    return would_block(k, p, fd, host, POLLIN, EAGAIN);
  if (n < 0) return Errno::last();
  // Write back what the guest's msghdr reports: name length, no control
  // data, flags.
  msghdr gm = TRY(p.mm->copy_in(mm::UserPtr<msghdr>(a.a[1])));
  if (gm.msg_name && gm.msg_namelen) {
    TRY(p.mm->copy_out(reinterpret_cast<uint64_t>(gm.msg_name), hm.name.data(),
                       std::min<socklen_t>(gm.msg_namelen, hm.msg.msg_namelen)));
  }
  gm.msg_namelen = hm.msg.msg_namelen;
  gm.msg_controllen = 0;
  gm.msg_flags = hm.msg.msg_flags;
  TRY(p.mm->copy_out(mm::UserPtr<msghdr>(a.a[1]), gm));
  return static_cast<uint64_t>(n);
}

PANGAEA_SYSCALL(setsockopt) {
  (void)k;
  int host = TRY(host_socket_fd(p, arg_int(a.a[0])));
  uint64_t len = a.a[4];
  if (len > 256) return Errno(EINVAL);
  std::vector<uint8_t> val(len);
  if (len) TRY(p.mm->copy_in(a.a[3], val.data(), len));
  if (::setsockopt(host, arg_int(a.a[1]), arg_int(a.a[2]), val.data(), len) < 0)
    return Errno::last();
  return 0;
}

PANGAEA_SYSCALL(getsockopt) {
  (void)k;
  int host = TRY(host_socket_fd(p, arg_int(a.a[0])));
  if (arg_int(a.a[1]) == SOL_SOCKET && arg_int(a.a[2]) == SO_PEERCRED) {
    if (auto* u = unix_socket_of(p, arg_int(a.a[0]))) return unix_peercred(p, *u, a.a[3], a.a[4]);
  }
  // A pidfd of the kernel process would be a host fd the guest cannot use.
  if (arg_int(a.a[1]) == SOL_SOCKET && arg_int(a.a[2]) == 77 /* SO_PEERPIDFD */)
    return Errno(ENOPROTOOPT);
  uint32_t cap = TRY(p.mm->copy_in(mm::UserPtr<uint32_t>(a.a[4])));
  if (cap > 256) cap = 256;
  std::vector<uint8_t> val(cap);
  socklen_t len = cap;
  if (::getsockopt(host, arg_int(a.a[1]), arg_int(a.a[2]), val.data(), &len) < 0)
    return Errno::last();
  TRY(p.mm->copy_out(a.a[3], val.data(), std::min<socklen_t>(len, cap)));
  uint32_t out = len;
  TRY(p.mm->copy_out(mm::UserPtr<uint32_t>(a.a[4]), out));
  return 0;
}

PANGAEA_SYSCALL(shutdown) {
  (void)k;
  int host = TRY(host_socket_fd(p, arg_int(a.a[0])));
  if (::shutdown(host, arg_int(a.a[1])) < 0) return Errno::last();
  return 0;
}

}  // namespace kernel::syscalls
