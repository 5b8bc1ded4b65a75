// AF_UNIX sockets of the guest: host AF_UNIX sockets of the kernel process
// whose names are translated both ways by fs::UnixSocket (fs/unix_socket.h:
// paths resolved inside the root, a private abstract namespace, guest
// credentials). Control messages (SCM_RIGHTS, SCM_CREDENTIALS) are refused
// with EOPNOTSUPP: the host's would carry the kernel's fds and ids, not the
// guest's. Blocking is as for the other host sockets (sys_socket.cc).

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <string>
#include <vector>

#include "kernel/syscalls/handlers.h"
#include "kernel/syscalls/socket_common.h"
#include "kernel/syscalls/util.h"

namespace kernel::syscalls {
namespace {

// The guest runs as root (sys_info.cc): uid and gid are 0.
fs::UnixCred cred_of(const task::Process& p) { return fs::UnixCred{p.pid, 0, 0}; }

Result<int> unix_type(int type, int protocol) {
  int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (protocol != 0 && protocol != PF_UNIX) return Errno(EPROTONOSUPPORT);
  if (base != SOCK_STREAM && base != SOCK_DGRAM && base != SOCK_SEQPACKET)
    return Errno(ESOCKTNOSUPPORT);
  return base;
}

std::shared_ptr<fs::UnixSocket> make_socket(base::UniqueFd host, int type, int guest_type,
                                            fs::UnixCred cred) {
  struct stat st;
  std::string name = "socket:[" +
                     std::to_string(::fstat(host.get(), &st) == 0 ? st.st_ino : 0) + "]";
  return std::make_shared<fs::UnixSocket>(std::move(host), name, type,
                                          O_RDWR | (guest_type & SOCK_NONBLOCK ? O_NONBLOCK : 0),
                                          cred);
}

Result<fs::UnixAddr> copy_in_unix_addr(task::Process& p, uint64_t addr, uint64_t len) {
  if (len < sizeof(sa_family_t) || len > sizeof(sockaddr_un)) return Errno(EINVAL);
  sockaddr_un sa = {};
  TRY(p.mm->copy_in(addr, &sa, len));
  return fs::parse_unix_addr(&sa, len);
}

// The absolute guest path of a filesystem name ("" for abstract names).
std::string guest_path_of(task::Kernel& k, task::Process& p, const fs::UnixAddr& a) {
  if (a.abstract || a.name.empty()) return {};
  return k.guest_path(p, a.name);
}

}  // namespace

Result<uint64_t> unix_socket(task::Kernel& k, task::Process& p, int type, int protocol) {
  (void)k;
  int base = TRY(unix_type(type, protocol));
  base::UniqueFd host(::socket(AF_UNIX, base | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!host.valid()) return Errno::last();
  auto s = make_socket(std::move(host), base, type, cred_of(p));
  return static_cast<uint64_t>(TRY(p.fds.install(s, type & SOCK_CLOEXEC)));
}

PANGAEA_SYSCALL(socketpair) {
  (void)k;
  int family = arg_int(a.a[0]);
  if (family == AF_INET || family == AF_INET6) return Errno(EOPNOTSUPP);  // as Linux
  if (family != AF_UNIX) return Errno(EAFNOSUPPORT);
  int type = arg_int(a.a[1]);
  int base = TRY(unix_type(type, arg_int(a.a[2])));
  int sv[2];
  if (::socketpair(AF_UNIX, base | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) return Errno::last();
  auto s0 = make_socket(base::UniqueFd(sv[0]), base, type, cred_of(p));
  auto s1 = make_socket(base::UniqueFd(sv[1]), base, type, cred_of(p));
  s0->set_peer_cred(cred_of(p));
  s1->set_peer_cred(cred_of(p));
  int fds[2];
  fds[0] = TRY(p.fds.install(s0, type & SOCK_CLOEXEC));
  auto second = p.fds.install(s1, type & SOCK_CLOEXEC);
  if (!second.ok()) {
    (void)p.fds.close(fds[0]);
    return second.error();
  }
  fds[1] = *second;
  auto out = p.mm->copy_out(a.a[3], fds, sizeof(fds));
  if (!out.ok()) {
    (void)p.fds.close(fds[0]);
    (void)p.fds.close(fds[1]);
    return out.error();
  }
  return 0;
}

Result<uint64_t> unix_bind(task::Kernel& k, task::Process& p, fs::UnixSocket& s, uint64_t addr,
                           uint64_t len) {
  auto ua = TRY(copy_in_unix_addr(p, addr, len));
  TRY(s.bind(k.root(), ua, guest_path_of(k, p, ua)));
  return 0;
}

Result<uint64_t> unix_connect(task::Kernel& k, task::Process& p, int fd, fs::UnixSocket& s,
                              uint64_t addr, uint64_t len) {
  if (len >= sizeof(sa_family_t) && s.type() == SOCK_DGRAM) {
    sa_family_t fam = TRY(p.mm->copy_in(mm::UserPtr<sa_family_t>(addr)));
    if (fam == AF_UNSPEC) {
      // A datagram socket forgets its peer.
      sockaddr sa = {};
      sa.sa_family = AF_UNSPEC;
      if (::connect(s.host_fd(), &sa, sizeof(sa)) < 0) return Errno::last();
      s.set_peer({});
      return 0;
    }
  }
  auto ua = TRY(copy_in_unix_addr(p, addr, len));
  if (!ua.abstract && ua.name.empty()) return Errno(EINVAL);
  auto target = TRY(fs::unix_target(k.root(), s.type(), ua, guest_path_of(k, p, ua)));
  if (::connect(s.host_fd(), reinterpret_cast<sockaddr*>(&target.sa), target.len) == 0) {
    s.connected(cred_of(p), ua.raw);
    return 0;
  }
  // A full backlog: wait until the listener accepts (or the guest said
  // O_NONBLOCK: EAGAIN, as Linux).
  if (errno == EAGAIN) return would_block(k, p, fd, s.host_fd(), POLLOUT, EAGAIN);
  return Errno::last();
}

Result<uint64_t> unix_listen(task::Process& p, fs::UnixSocket& s, int backlog) {
  TRY(s.listen(backlog, cred_of(p)));
  return 0;
}

Result<uint64_t> unix_accept4(task::Kernel& k, task::Process& p, int fd, fs::UnixSocket& s,
                              uint64_t addr, uint64_t lenp, int flags) {
  int c = ::accept4(s.host_fd(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (c < 0) {
    if (errno == EAGAIN) return would_block(k, p, fd, s.host_fd(), POLLIN, EAGAIN);
    return Errno::last();
  }
  base::UniqueFd host(c);
  struct stat st;
  std::string name =
      "socket:[" + std::to_string(::fstat(c, &st) == 0 ? st.st_ino : 0) + "]";
  auto ns = s.accepted(std::move(host), name, O_RDWR | (flags & SOCK_NONBLOCK ? O_NONBLOCK : 0));
  int nfd = TRY(p.fds.install(ns, flags & SOCK_CLOEXEC));
  TRY(copy_out_sockaddr(p, addr, lenp, ns->peer().data(), ns->peer().size()));
  return static_cast<uint64_t>(nfd);
}

Result<uint64_t> unix_getsockname(task::Process& p, fs::UnixSocket& s, uint64_t addr,
                                  uint64_t lenp) {
  std::string local = s.local();
  TRY(copy_out_sockaddr(p, addr, lenp, local.data(), local.size()));
  return 0;
}

Result<uint64_t> unix_getpeername(task::Process& p, fs::UnixSocket& s, uint64_t addr,
                                  uint64_t lenp) {
  sockaddr_un sa = {};
  socklen_t len = sizeof(sa);
  if (::getpeername(s.host_fd(), reinterpret_cast<sockaddr*>(&sa), &len) < 0)
    return Errno::last();
  std::string peer = s.peer().empty() ? fs::unix_guest_name(sa, len) : s.peer();
  if (peer.empty()) peer = fs::unix_guest_name(sa, sizeof(sa_family_t));
  TRY(copy_out_sockaddr(p, addr, lenp, peer.data(), peer.size()));
  return 0;
}

Result<uint64_t> unix_send(task::Kernel& k, task::Process& p, int fd, fs::UnixSocket& s,
                           std::vector<iovec> iov, uint64_t name, uint64_t namelen,
                           const msghdr* gm, int flags) {
  // The host's control messages would carry the kernel's fds and ids.
  if (gm && gm->msg_control && gm->msg_controllen >= sizeof(cmsghdr)) return Errno(EOPNOTSUPP);
  msghdr m = {};
  m.msg_iov = iov.data();
  m.msg_iovlen = iov.size();
  fs::UnixTarget target;
  if (name && namelen) {
    auto ua = TRY(copy_in_unix_addr(p, name, namelen));
    if (!ua.abstract && ua.name.empty()) return Errno(EINVAL);
    target = TRY(fs::unix_target(k.root(), s.type(), ua, guest_path_of(k, p, ua)));
    m.msg_name = &target.sa;
    m.msg_namelen = target.len;
  }
  ssize_t n = ::sendmsg(s.host_fd(), &m, flags | MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0 && errno == EAGAIN && !(flags & MSG_DONTWAIT))
    return would_block(k, p, fd, s.host_fd(), POLLOUT, EAGAIN);
  if (n < 0 && errno == EPIPE && !(flags & MSG_NOSIGNAL)) k.signal(p, SIGPIPE);
  if (n < 0) return Errno::last();
  return static_cast<uint64_t>(n);
}

Result<uint64_t> unix_recv(task::Kernel& k, task::Process& p, int fd, fs::UnixSocket& s,
                           std::vector<iovec> iov, uint64_t name, uint64_t namelenp,
                           uint64_t gm_addr, int flags) {
  sockaddr_un sa = {};
  msghdr m = {};
  m.msg_iov = iov.data();
  m.msg_iovlen = iov.size();
  m.msg_name = &sa;
  m.msg_namelen = sizeof(sa);
  ssize_t n = ::recvmsg(s.host_fd(), &m, (flags & ~MSG_CMSG_CLOEXEC) | MSG_DONTWAIT);
  if (n < 0 && errno == EAGAIN && !(flags & MSG_DONTWAIT))
    return would_block(k, p, fd, s.host_fd(), POLLIN, EAGAIN);
  if (n < 0) return Errno::last();
  std::string from = fs::unix_guest_name(sa, m.msg_namelen);
  if (!gm_addr) {
    TRY(copy_out_sockaddr(p, name, namelenp, from.data(), from.size()));
    return static_cast<uint64_t>(n);
  }
  msghdr gm = TRY(p.mm->copy_in(mm::UserPtr<msghdr>(gm_addr)));
  if (gm.msg_name && gm.msg_namelen)
    TRY(p.mm->copy_out(reinterpret_cast<uint64_t>(gm.msg_name), from.data(),
                       std::min<size_t>(gm.msg_namelen, from.size())));
  gm.msg_namelen = from.size();
  gm.msg_controllen = 0;
  gm.msg_flags = m.msg_flags & ~MSG_CTRUNC;
  TRY(p.mm->copy_out(mm::UserPtr<msghdr>(gm_addr), gm));
  return static_cast<uint64_t>(n);
}

Result<uint64_t> unix_peercred(task::Process& p, fs::UnixSocket& s, uint64_t val, uint64_t lenp) {
  uint32_t cap = TRY(p.mm->copy_in(mm::UserPtr<uint32_t>(lenp)));
  if (static_cast<int32_t>(cap) < 0) return Errno(EINVAL);
  const fs::UnixCred& c = s.peer_cred();
  struct ucred u = {c.pid, c.uid, c.gid};
  uint32_t len = std::min<uint32_t>(cap, sizeof(u));
  TRY(p.mm->copy_out(val, &u, len));
  TRY(p.mm->copy_out(mm::UserPtr<uint32_t>(lenp), len));
  return 0;
}

}  // namespace kernel::syscalls
