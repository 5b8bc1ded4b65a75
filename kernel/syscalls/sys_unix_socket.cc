// AF_UNIX sockets of the guest: host AF_UNIX sockets of the kernel process
// whose names are translated both ways by fs::UnixSocket (fs/unix_socket.h:
// paths resolved inside the root, a private abstract namespace, guest
// credentials). SCM_RIGHTS passes guest files of any kind as host tokens
// (fs::make_file_token); SCM_CREDENTIALS carries guest credentials, never
// the host's (fs/unix_socket.h says whose). Blocking is as for the other
// host sockets (sys_socket.cc).

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <optional>
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
  if ((type & ~0xf) & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) return Errno(EINVAL);
  int base = type & 0xf;  // SOCK_TYPE_MASK
  if (protocol != 0 && protocol != PF_UNIX) return Errno(EPROTONOSUPPORT);
  if (base == SOCK_RAW) base = SOCK_DGRAM;  // as Linux
  if (base != SOCK_STREAM && base != SOCK_DGRAM && base != SOCK_SEQPACKET)
    return Errno(ESOCKTNOSUPPORT);
  return base;
}

std::shared_ptr<fs::UnixSocket> make_socket(base::UniqueFd host, int type, int guest_type,
                                            fs::UnixCred cred) {
  struct stat st;
  std::string name =
      "socket:[" + std::to_string(::fstat(host.get(), &st) == 0 ? st.st_ino : 0) + "]";
  return std::make_shared<fs::UnixSocket>(
      std::move(host), name, type, O_RDWR | (guest_type & SOCK_NONBLOCK ? O_NONBLOCK : 0), cred);
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
    s.note_host_autobind();
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
  std::string name = "socket:[" + std::to_string(::fstat(c, &st) == 0 ? st.st_ino : 0) + "]";
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
  if (::getpeername(s.host_fd(), reinterpret_cast<sockaddr*>(&sa), &len) < 0) return Errno::last();
  std::string peer = s.peer().empty() ? fs::unix_guest_name(sa, len) : s.peer();
  if (peer.empty()) peer = fs::unix_guest_name(sa, sizeof(sa_family_t));
  TRY(copy_out_sockaddr(p, addr, lenp, peer.data(), peer.size()));
  return 0;
}

namespace {

constexpr size_t kMaxControl = 64 * 1024;
constexpr size_t kMaxRights = 253;  // SCM_MAX_FD

// The tokens of one sendmsg's SCM_RIGHTS (fs::make_file_token): forgotten
// unless the message went out.
struct Rights {
  std::vector<base::UniqueFd> tokens;
  bool sent = false;
  ~Rights() {
    if (!sent)
      for (auto& t : tokens) fs::forget_file_token(t.get());
  }
};

// The guest's control messages as host ones: SCM_RIGHTS as tokens;
// SCM_CREDENTIALS checked (a guest may state only its own: EPERM) and
// dropped; anything else is EINVAL, as Linux says.
Result<std::vector<uint8_t>> copy_in_control(task::Process& p, const msghdr& gm, Rights& rights) {
  if (gm.msg_controllen > kMaxControl) return Errno(ENOBUFS);
  std::vector<uint8_t> ctl(gm.msg_controllen);
  TRY(p.mm->copy_in(reinterpret_cast<uint64_t>(gm.msg_control), ctl.data(), ctl.size()));
  msghdr m = {};
  m.msg_control = ctl.data();
  m.msg_controllen = ctl.size();
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
    size_t off = reinterpret_cast<uint8_t*>(c) - ctl.data();
    if (c->cmsg_len < CMSG_LEN(0) || c->cmsg_len > ctl.size() - off) return Errno(EINVAL);
    if (c->cmsg_level != SOL_SOCKET) return Errno(EINVAL);
    if (c->cmsg_type == SCM_CREDENTIALS) {
      // A process may state its own credentials; the receiver gets the
      // sender's from the kernel anyway (guest_control), so nothing travels.
      struct ucred u;
      if (c->cmsg_len != CMSG_LEN(sizeof(u))) return Errno(EINVAL);
      std::memcpy(&u, CMSG_DATA(c), sizeof(u));
      fs::UnixCred own = cred_of(p);
      if (u.pid != own.pid || u.uid != own.uid || u.gid != own.gid) return Errno(EPERM);
      continue;
    }
    if (c->cmsg_type != SCM_RIGHTS) return Errno(EINVAL);
    size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    if (rights.tokens.size() + n > kMaxRights) return Errno(EINVAL);
    for (size_t i = 0; i < n; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
      auto f = TRY(p.fds.get(fd));
      rights.tokens.push_back(TRY(fs::make_file_token(std::move(f))));
    }
  }
  std::vector<uint8_t> host;
  if (rights.tokens.empty()) return host;
  size_t n = rights.tokens.size();
  host.assign(CMSG_SPACE(n * sizeof(int)), 0);
  auto* c = reinterpret_cast<cmsghdr*>(host.data());
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(n * sizeof(int));
  for (size_t i = 0; i < n; ++i) {
    int fd = rights.tokens[i].get();
    std::memcpy(CMSG_DATA(c) + i * sizeof(int), &fd, sizeof(fd));
  }
  return host;
}

// Appends one control message to the guest's buffer image; false when it
// does not fit (the caller sets MSG_CTRUNC).
bool put_cmsg(std::vector<uint8_t>& out, size_t cap, int type, const void* data, size_t len) {
  size_t need = CMSG_SPACE(len);
  if (out.size() + CMSG_LEN(len) > cap) return false;
  size_t at = out.size();
  out.resize(std::min(at + need, cap), 0);
  cmsghdr c = {};
  c.cmsg_len = CMSG_LEN(len);
  c.cmsg_level = SOL_SOCKET;
  c.cmsg_type = type;
  std::memcpy(out.data() + at, &c, sizeof(c));
  std::memcpy(out.data() + at + CMSG_LEN(0), data, len);
  return true;
}

// The host's control messages as the guest's: tokens become guest fds of
// the files they stand for, host credentials become the peer's guest
// credentials (when known), the rest is dropped. Every host fd is closed.
std::vector<uint8_t> guest_control(task::Process& p, std::optional<fs::UnixCred> sender, msghdr& m,
                                   size_t cap, int flags, int& msg_flags) {
  std::vector<uint8_t> out;
  bool peek = flags & MSG_PEEK;
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type == SCM_RIGHTS) {
      size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      std::vector<int> guest_fds;
      for (size_t i = 0; i < n; ++i) {
        int host;
        std::memcpy(&host, CMSG_DATA(c) + i * sizeof(int), sizeof(host));
        auto f = fs::file_of_token(host, peek);
        ::close(host);
        // Room for one more fd in the guest's buffer?
        bool room = out.size() + CMSG_LEN((guest_fds.size() + 1) * sizeof(int)) <= cap;
        if (!f || !room) {
          msg_flags |= MSG_CTRUNC;
          continue;
        }
        auto fd = p.fds.install(std::move(f), flags & MSG_CMSG_CLOEXEC);
        if (!fd.ok()) {
          msg_flags |= MSG_CTRUNC;
          continue;
        }
        guest_fds.push_back(*fd);
      }
      if (!guest_fds.empty())
        put_cmsg(out, cap, SCM_RIGHTS, guest_fds.data(), guest_fds.size() * sizeof(int));
    } else if (c->cmsg_type == SCM_CREDENTIALS) {
      if (!sender || sender->pid == 0) continue;  // not known
      struct ucred u = {sender->pid, sender->uid, sender->gid};
      if (!put_cmsg(out, cap, SCM_CREDENTIALS, &u, sizeof(u))) msg_flags |= MSG_CTRUNC;
    }
  }
  return out;
}

}  // namespace

Result<uint64_t> unix_send(task::Kernel& k, task::Process& p, int fd, fs::UnixSocket& s,
                           std::vector<iovec> iov, uint64_t name, uint64_t namelen,
                           const msghdr* gm, int flags) {
  Rights rights;
  std::vector<uint8_t> ctl;
  if (gm && gm->msg_control && gm->msg_controllen) ctl = TRY(copy_in_control(p, *gm, rights));
  msghdr m = {};
  m.msg_iov = iov.data();
  m.msg_iovlen = iov.size();
  if (!ctl.empty()) {
    m.msg_control = ctl.data();
    m.msg_controllen = ctl.size();
  }
  fs::UnixTarget target;
  if (name && namelen && s.type() == SOCK_STREAM) {
    // A stream socket takes no address (Linux says so before looking at it).
    sockaddr_un peer;
    socklen_t plen = sizeof(peer);
    bool connected = ::getpeername(s.host_fd(), reinterpret_cast<sockaddr*>(&peer), &plen) == 0;
    return Errno(connected ? EISCONN : EOPNOTSUPP);
  }
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
  rights.sent = true;
  s.note_host_autobind();
  return static_cast<uint64_t>(n);
}

Result<uint64_t> unix_recv(task::Kernel& k, task::Process& p, int fd, fs::UnixSocket& s,
                           std::vector<iovec> iov, uint64_t name, uint64_t namelenp,
                           uint64_t gm_addr, int flags) {
  msghdr gm = {};
  if (gm_addr) gm = TRY(p.mm->copy_in(mm::UserPtr<msghdr>(gm_addr)));
  size_t cap = gm.msg_control ? std::min<size_t>(gm.msg_controllen, kMaxControl) : 0;
  // Room for the host's fds (as many as the guest's buffer takes, and
  // always some, so that none is lost unseen) and credentials.
  std::vector<uint8_t> ctl(std::max<size_t>(cap, CMSG_SPACE(sizeof(int) * kMaxRights)) +
                           CMSG_SPACE(sizeof(struct ucred)));
  sockaddr_un sa = {};
  msghdr m = {};
  m.msg_iov = iov.data();
  m.msg_iovlen = iov.size();
  m.msg_name = &sa;
  m.msg_namelen = sizeof(sa);
  m.msg_control = ctl.data();
  m.msg_controllen = ctl.size();
  ssize_t n = ::recvmsg(s.host_fd(), &m, flags | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0 && errno == EAGAIN && !(flags & MSG_DONTWAIT))
    return would_block(k, p, fd, s.host_fd(), POLLIN, EAGAIN);
  if (n < 0) return Errno::last();
  int msg_flags = m.msg_flags & ~MSG_CTRUNC;
  std::optional<fs::UnixCred> sender;
  if (s.type() == SOCK_DGRAM)
    sender = fs::unix_sender_cred(sa, m.msg_namelen);
  else
    sender = s.peer_cred();
  std::vector<uint8_t> gctl = guest_control(p, sender, m, cap, flags, msg_flags);
  std::string from = fs::unix_guest_name(sa, m.msg_namelen);
  if (!gm_addr) {
    TRY(copy_out_sockaddr(p, name, namelenp, from.data(), from.size()));
    return static_cast<uint64_t>(n);
  }
  if (gm.msg_name && gm.msg_namelen)
    TRY(p.mm->copy_out(reinterpret_cast<uint64_t>(gm.msg_name), from.data(),
                       std::min<size_t>(gm.msg_namelen, from.size())));
  if (!gctl.empty())
    TRY(p.mm->copy_out(reinterpret_cast<uint64_t>(gm.msg_control), gctl.data(), gctl.size()));
  gm.msg_namelen = from.size();
  gm.msg_controllen = gctl.size();
  gm.msg_flags = msg_flags;
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
