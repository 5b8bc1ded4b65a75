#include "kernel/fs/unix_socket.h"

#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <linux/unix_diag.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <optional>
#include <unordered_map>

namespace kernel::fs {
namespace {

// A host name the kernel bound, and the guest address it stands for.
struct Bound {
  std::string raw;
  UnixCred owner;     // the bound socket's creator (datagram senders)
  UnixCred listener;  // who called listen()
  // Connects not yet accepted, in order: the connecting host socket's inode
  // and the connector's credentials.
  std::deque<std::pair<uint64_t, UnixCred>> pending;
  bool retired = false;  // its socket is closed
};

// host name (sun_path bytes as bound; abstract ones start with NUL) -> Bound
std::unordered_map<std::string, Bound>& bound_names() {
  static std::unordered_map<std::string, Bound> m;
  return m;
}

// The socket of a host name closed, but messages it sent may still be
// queued: their receivers still ask for its guest name and credentials, so
// the entry stays (marked retired) until the name is bound again or the
// 4096 most recently retired names push it out.
void retire(const std::string& key) {
  static std::deque<std::string> fifo;
  auto it = bound_names().find(key);
  if (it == bound_names().end()) return;
  it->second.retired = true;
  it->second.pending.clear();
  fifo.push_back(key);
  if (fifo.size() > 4096) {
    auto old = bound_names().find(fifo.front());
    if (old != bound_names().end() && old->second.retired) bound_names().erase(old);
    fifo.pop_front();
  }
}

// The guest's abstract namespace, one per socket type as in Linux: the type
// as one byte + the guest name (without the leading NUL) -> host name.
std::unordered_map<std::string, std::string>& abstract_names() {
  static std::unordered_map<std::string, std::string> m;
  return m;
}

// "pangaea-<16 hex digits>": random once per kernel process (per boot).
const std::string& boot_prefix() {
  static const std::string prefix = [] {
    uint64_t r = 0;
    if (::getrandom(&r, sizeof(r), 0) != sizeof(r)) r = static_cast<uint64_t>(::getpid()) << 32;
    char buf[40];
    snprintf(buf, sizeof(buf), "pangaea-%016llx", static_cast<unsigned long long>(r));
    return std::string(buf);
  }();
  return prefix;
}

uint64_t next_serial() {
  static uint64_t n = 0;
  return ++n;
}

std::string abstract_key(int type, const std::string& name) {
  return std::string(1, static_cast<char>(type)) + name;
}

std::string host_key(const sockaddr_un& sa, socklen_t len) {
  if (len <= sizeof(sa_family_t)) return {};
  size_t n = len - sizeof(sa_family_t);
  if (n > sizeof(sa.sun_path)) n = sizeof(sa.sun_path);
  if (sa.sun_path[0] == '\0') return std::string(sa.sun_path, n);
  return std::string(sa.sun_path, strnlen(sa.sun_path, n));
}

std::string family_only() {
  sa_family_t fam = AF_UNIX;
  return std::string(reinterpret_cast<const char*>(&fam), sizeof(fam));
}

// A sockaddr_un holding `name` (sun_path bytes); a path gets its NUL.
std::pair<sockaddr_un, socklen_t> make_sa(const std::string& name) {
  sockaddr_un sa = {};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, name.data(), name.size());
  socklen_t len = sizeof(sa_family_t) + name.size();
  if (!name.empty() && name[0] != '\0') len += 1;
  return {sa, len};
}

// Files in flight: token inode -> file (make_file_token).
std::unordered_map<uint64_t, std::shared_ptr<File>>& files_in_flight() {
  static std::unordered_map<uint64_t, std::shared_ptr<File>> m;
  return m;
}

uint64_t token_key(int fd) {
  struct stat st;
  if (::fstat(fd, &st) < 0) return 0;
  return static_cast<uint64_t>(st.st_ino);
}

uint64_t socket_inode(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_ino) : 0;
}

// The inode of the host socket connected to host socket `fd`, asked of the
// host's sock_diag (NETLINK_SOCK_DIAG, UNIX_DIAG_PEER); nullopt when the
// host does not say (no unix_diag).
std::optional<uint64_t> peer_inode(int fd) {
  static base::UniqueFd nl(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!nl.valid()) return std::nullopt;
  struct {
    nlmsghdr nh;
    unix_diag_req req;
  } msg = {};
  msg.nh.nlmsg_len = sizeof(msg);
  msg.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nh.nlmsg_flags = NLM_F_REQUEST;
  msg.req.sdiag_family = AF_UNIX;
  msg.req.udiag_states = ~0u;
  msg.req.udiag_ino = static_cast<uint32_t>(socket_inode(fd));
  msg.req.udiag_show = UDIAG_SHOW_PEER;
  msg.req.udiag_cookie[0] = msg.req.udiag_cookie[1] = ~0u;
  if (::send(nl.get(), &msg, sizeof(msg), 0) != sizeof(msg)) return std::nullopt;
  alignas(nlmsghdr) char buf[512];
  ssize_t n = ::recv(nl.get(), buf, sizeof(buf), 0);
  if (n < static_cast<ssize_t>(sizeof(nlmsghdr))) return std::nullopt;
  auto* nh = reinterpret_cast<nlmsghdr*>(buf);
  if (!NLMSG_OK(nh, n) || nh->nlmsg_type != SOCK_DIAG_BY_FAMILY) return std::nullopt;
  auto* m = static_cast<unix_diag_msg*>(NLMSG_DATA(nh));
  int len = nh->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
  for (auto* at = reinterpret_cast<rtattr*>(m + 1); RTA_OK(at, len); at = RTA_NEXT(at, len)) {
    if (at->rta_type == UNIX_DIAG_PEER && RTA_PAYLOAD(at) >= sizeof(uint32_t))
      return *static_cast<uint32_t*>(RTA_DATA(at));
  }
  return std::nullopt;
}

}  // namespace

Result<base::UniqueFd> make_file_token(std::shared_ptr<File> f) {
  base::UniqueFd t(::memfd_create("pangaea-scm-rights", MFD_CLOEXEC));
  if (!t.valid()) return Errno::last();
  uint64_t key = token_key(t.get());
  if (!key) return Errno(ENOMEM);
  files_in_flight()[key] = std::move(f);
  return t;
}

std::shared_ptr<File> file_of_token(int token, bool peek) {
  struct stat st;
  if (::fstat(token, &st) < 0 || !S_ISREG(st.st_mode)) return nullptr;
  auto it = files_in_flight().find(token_key(token));
  if (it == files_in_flight().end()) return nullptr;
  auto f = it->second;
  if (!peek) files_in_flight().erase(it);
  return f;
}

void forget_file_token(int token) { files_in_flight().erase(token_key(token)); }

void drop_received_rights(msghdr& m) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
      (void)file_of_token(fd, false);
      ::close(fd);
    }
  }
}

Result<UnixAddr> parse_unix_addr(const void* sa, size_t len) {
  if (len < sizeof(sa_family_t) || len > sizeof(sockaddr_un)) return Errno(EINVAL);
  const char* b = static_cast<const char*>(sa);
  sa_family_t fam;
  std::memcpy(&fam, b, sizeof(fam));
  if (fam != AF_UNIX) return Errno(EINVAL);
  UnixAddr a;
  std::string path(b + sizeof(fam), len - sizeof(fam));
  if (path.empty()) return a;  // autobind
  if (path[0] == '\0') {
    a.abstract = true;
    a.name = path.substr(1);
    a.raw = family_only() + path;
    return a;
  }
  a.name = path.substr(0, strnlen(path.data(), path.size()));
  a.raw = family_only() + a.name + std::string(1, '\0');
  return a;
}

Result<UnixTarget> unix_target(const Root& root, int type, const UnixAddr& a,
                               const std::string& guest_path) {
  UnixTarget t;
  if (a.abstract) {
    auto it = abstract_names().find(abstract_key(type, a.name));
    if (it == abstract_names().end()) return Errno(ECONNREFUSED);
    std::tie(t.sa, t.len) = make_sa(it->second);
    return t;
  }
  if (a.name.empty()) return Errno(EINVAL);
  t.pin = TRY(root.open_path(guest_path, O_PATH));
  struct stat st;
  if (::fstat(t.pin.get(), &st) < 0) return Errno::last();
  if (!S_ISSOCK(st.st_mode)) return Errno(ECONNREFUSED);
  std::tie(t.sa, t.len) = make_sa("/proc/self/fd/" + std::to_string(t.pin.get()));
  return t;
}

std::string unix_guest_name(const sockaddr_un& sa, socklen_t len) {
  if (len == 0) return {};
  std::string key = host_key(sa, len);
  if (key.empty()) return family_only();
  auto it = bound_names().find(key);
  if (it == bound_names().end()) return family_only();
  return it->second.raw;
}

UnixSocket::UnixSocket(base::UniqueFd host, std::string path, int type, int flags, UnixCred cred)
    : File(path, flags),
      host_(make_host_file(std::move(host), path, O_RDWR | O_NONBLOCK)),
      type_(type),
      cred_(cred) {}

UnixSocket::~UnixSocket() {
  // Files in flight to this socket go with it, as in Linux: the host would
  // drop the tokens unseen and leave their files open in the table.
  for (int i = 0; i < 4096 && !files_in_flight().empty(); ++i) {
    char data[4096];
    alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * 253)];
    iovec iov = {data, sizeof(data)};
    msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl;
    msg.msg_controllen = sizeof(ctl);
    if (::recvmsg(host_fd(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) <= 0) break;
    drop_received_rights(msg);
  }
  if (!host_key_.empty()) retire(host_key_);
  if (has_abstract_) {
    auto it = abstract_names().find(abstract_name_);
    if (it != abstract_names().end() && it->second == host_key_) abstract_names().erase(it);
  }
}

Result<void> UnixSocket::bind(const Root& root, const UnixAddr& a, const std::string& guest_path) {
  if (!host_key_.empty()) return Errno(EINVAL);
  std::string key;
  if (a.abstract || a.name.empty()) {
    UnixAddr ab = a;
    if (a.name.empty()) {
      // Autobind: five hex digits, as Linux names them.
      char buf[8];
      do {
        snprintf(buf, sizeof(buf), "%05llx",
                 static_cast<unsigned long long>(next_serial() & 0xfffff));
      } while (abstract_names().count(abstract_key(type_, buf)));
      ab.abstract = true;
      ab.name = buf;
      ab.raw = family_only() + std::string(1, '\0') + buf;
    }
    if (abstract_names().count(abstract_key(type_, ab.name))) return Errno(EADDRINUSE);
    key = std::string(1, '\0') + boot_prefix() + "-" + std::to_string(next_serial());
    auto [sa, len] = make_sa(key);
    if (::bind(host_fd(), reinterpret_cast<sockaddr*>(&sa), len) < 0) return Errno::last();
    abstract_name_ = abstract_key(type_, ab.name);
    abstract_names()[abstract_name_] = key;
    has_abstract_ = true;
    local_ = ab.raw;
  } else {
    auto [dir, name] = TRY(root.open_parent(guest_path));
    if (name.empty()) return Errno(EADDRINUSE);
    std::string prefix = "/proc/self/fd/" + std::to_string(dir.get()) + "/";
    if (prefix.size() + name.size() < sizeof(sockaddr_un::sun_path)) {
      key = prefix + name;
      auto [sa, len] = make_sa(key);
      if (::bind(host_fd(), reinterpret_cast<sockaddr*>(&sa), len) < 0) return Errno::last();
    } else {
      // Too long for sun_path through /proc: bind a short name in the same
      // directory, then move it to the guest's name (the socket's inode is
      // what connect finds; the host name stays the short one).
      std::string tmp = ".pangaea-sock-" + std::to_string(next_serial());
      key = prefix + tmp;
      auto [sa, len] = make_sa(key);
      if (::bind(host_fd(), reinterpret_cast<sockaddr*>(&sa), len) < 0) return Errno::last();
      if (::renameat2(dir.get(), tmp.c_str(), dir.get(), name.c_str(), RENAME_NOREPLACE) < 0) {
        int err = errno;
        ::unlinkat(dir.get(), tmp.c_str(), 0);
        // The host socket is bound to a name that is gone: start afresh.
        int type = type_ | SOCK_NONBLOCK | SOCK_CLOEXEC;
        base::UniqueFd fresh(::socket(AF_UNIX, type, 0));
        if (fresh.valid()) host_ = make_host_file(std::move(fresh), path_, O_RDWR | O_NONBLOCK);
        return Errno(err == EEXIST ? EADDRINUSE : err);
      }
    }
    dir_ = std::move(dir);
    local_ = a.raw;
  }
  host_key_ = key;
  bound_names()[key] = Bound{local_, cred_, {}, {}};
  return {};
}

Result<void> UnixSocket::listen(int backlog, UnixCred cred) {
  if (::listen(host_fd(), backlog) < 0) return Errno::last();
  peer_cred_ = cred;  // Linux: a listener's SO_PEERCRED is its own
  auto it = bound_names().find(host_key_);
  if (it != bound_names().end()) it->second.listener = cred;
  return {};
}

void UnixSocket::connected(UnixCred cred, const std::string& fallback_peer) {
  sockaddr_un sa = {};
  socklen_t len = sizeof(sa);
  peer_ = fallback_peer;
  if (::getpeername(host_fd(), reinterpret_cast<sockaddr*>(&sa), &len) < 0) return;
  auto it = bound_names().find(host_key(sa, len));
  if (it == bound_names().end() || it->second.retired) return;
  peer_ = it->second.raw;
  if (type_ == SOCK_DGRAM) return;
  peer_cred_ = it->second.listener;
  it->second.pending.emplace_back(socket_inode(host_fd()), cred);
}

std::shared_ptr<UnixSocket> UnixSocket::accepted(base::UniqueFd host, std::string path, int flags) {
  auto s = std::make_shared<UnixSocket>(std::move(host), std::move(path), type_, flags, cred_);
  s->local_ = local_;
  sockaddr_un sa = {};
  socklen_t len = sizeof(sa);
  if (::getpeername(s->host_fd(), reinterpret_cast<sockaddr*>(&sa), &len) == 0)
    s->peer_ = unix_guest_name(sa, len);
  if (s->peer_.empty()) s->peer_ = family_only();
  auto it = bound_names().find(host_key_);
  if (it != bound_names().end() && !it->second.pending.empty()) {
    // The host says which socket connected (sock_diag); when it cannot (no
    // unix_diag, or the connecting socket is closed already: inode 0), the
    // accept queue's order.
    auto& q = it->second.pending;
    std::optional<uint64_t> peer = peer_inode(s->host_fd());
    auto found = q.begin();
    if (peer && *peer) {
      while (found != q.end() && found->first != *peer) ++found;
    }
    if (found != q.end()) {
      s->peer_cred_ = found->second;
      q.erase(found);
    }
  }
  return s;
}

Result<uint64_t> UnixSocket::read(mm::MemoryManager& mm, uint64_t buf, uint64_t len) {
  if (len == 0) return 0;  // as Linux: no message is taken
  auto iov = TRY(mm.host_iovecs(buf, std::min<uint64_t>(len, 1u << 20), true));
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * 253)];
  msghdr msg = {};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = iov.size();
  msg.msg_control = ctl;
  msg.msg_controllen = sizeof(ctl);
  ssize_t r = ::recvmsg(host_fd(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (r < 0) return Errno::last();
  drop_received_rights(msg);
  return static_cast<uint64_t>(r);
}

Result<uint64_t> UnixSocket::ioctl(mm::MemoryManager& mm, uint64_t cmd, uint64_t arg) {
  if (cmd != SIOCINQ && cmd != SIOCOUTQ) return Errno(ENOTTY);
  int n = 0;
  if (::ioctl(host_fd(), cmd, &n) < 0) return Errno::last();
  TRY(mm.copy_out(arg, &n, sizeof(n)));
  return 0;
}

Result<uint64_t> UnixSocket::write(mm::MemoryManager& mm, uint64_t buf, uint64_t len) {
  uint64_t done = 0;
  do {  // at least once: an empty datagram is a message
    uint64_t n = std::min<uint64_t>(len - done, 1u << 20);
    auto iov = mm.host_iovecs(buf + done, n, false);
    if (!iov.ok()) return done ? Result<uint64_t>(done) : Result<uint64_t>(iov.error());
    msghdr msg = {};
    msg.msg_iov = iov->data();
    msg.msg_iovlen = iov->size();
    ssize_t r = ::sendmsg(host_fd(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (done) return done;
      return Errno::last();
    }
    done += r;
    if (static_cast<uint64_t>(r) < n || type_ != SOCK_STREAM) break;
  } while (done < len);
  return done;
}

void UnixSocket::note_host_autobind() {
  // Bound, or an accepted socket (whose host name is its listener's).
  if (!host_key_.empty() || !local_.empty()) return;
  sockaddr_un sa = {};
  socklen_t len = sizeof(sa);
  if (::getsockname(host_fd(), reinterpret_cast<sockaddr*>(&sa), &len) < 0) return;
  std::string key = host_key(sa, len);
  if (key.empty() || key[0] != '\0') return;
  // The host named it like Linux does ("\0" + five hex digits): the guest
  // sees the same name, in its own namespace.
  host_key_ = key;
  local_ = family_only() + key;
  bound_names()[key] = Bound{local_, cred_, {}, {}};
  std::string ak = abstract_key(type_, key.substr(1));
  if (!abstract_names().count(ak)) {
    abstract_names()[ak] = key;
    abstract_name_ = ak;
    has_abstract_ = true;
  }
}

std::optional<UnixCred> unix_sender_cred(const sockaddr_un& sa, socklen_t len) {
  auto it = bound_names().find(host_key(sa, len));
  if (it == bound_names().end()) return std::nullopt;
  return it->second.owner;
}

std::string UnixSocket::local() const { return local_.empty() ? family_only() : local_; }

}  // namespace kernel::fs
