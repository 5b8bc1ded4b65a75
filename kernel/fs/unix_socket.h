#pragma once
// UnixSocket: a guest AF_UNIX socket (SOCK_STREAM, SOCK_DGRAM,
// SOCK_SEQPACKET) backed by a host AF_UNIX socket of the kernel process
// (always O_NONBLOCK on the host; a guest call that would block waits in the
// scheduler, as for the other host sockets), and the guest's AF_UNIX
// namespace. The guest never hands the host a sockaddr of its own:
//
//  - Filesystem names are guest paths, resolved inside the root (Root:
//    openat2 RESOLVE_IN_ROOT), never host paths.
//    bind: the parent directory is opened O_PATH inside the root and the host
//    socket is bound at "/proc/self/fd/D/NAME", D being that directory fd,
//    which the socket keeps open (so the host name is unique among the live
//    sockets). When that string does not fit sun_path (108 bytes), the socket
//    is bound at a short temporary name in D and renamed to NAME with
//    renameat2(RENAME_NOREPLACE) (EADDRINUSE if NAME exists, as bind says).
//    connect/sendto: the target is opened O_PATH inside the root (symlinks
//    followed inside the root), must be a socket (else ECONNREFUSED, as
//    Linux), and the host connects to "/proc/self/fd/F": the inode that fd
//    pins, never a host path outside the root. No chdir anywhere.
//  - The abstract namespace (sun_path[0] == 0) is a kernel-side table, one
//    per boot (per kernel process) and, as in Linux, per socket type: guest
//    name -> host abstract name
//    "\0pangaea-<16 random hex digits>-<N>". A guest name that is not in the
//    table is ECONNREFUSED without asking the host, so a guest never reaches
//    a host abstract socket, and a host process cannot guess ours easily.
//  - Every host name the kernel bound is registered with the guest address
//    it stands for, so getsockname, getpeername, accept and recvfrom answer
//    guest addresses (an unknown host name reads as unnamed).
//
// Credentials are the guest's, never the host's. SO_PEERCRED: a
// socketpair's peer is its creator; a connected stream/seqpacket socket's
// peer is the process that called listen(); an accepted socket's peer is the
// connecting process, from a queue of connects per listening name: the host's
// sock_diag says which host socket is the peer (UNIX_DIAG_PEER), so a host
// process connecting from outside the kernel gets no credentials. Without
// unix_diag, or once the connecting socket is closed, the queue's order is
// taken (the host's accept order), which an outside connect shifts. SCM_CREDENTIALS (a
// receiver with SO_PASSCRED): on a connection, the peer's SO_PEERCRED; on a
// datagram, the creator of the sending socket when the kernel knows its name
// (a bound or autobound guest socket), else none. So a message sent by a
// process other than the one named (a socket shared by fork) carries the
// named one's credentials.
//
// Threads: the kernel thread only (the namespace is a process-wide table).

#include <sys/socket.h>
#include <sys/un.h>

#include <memory>
#include <optional>
#include <string>

#include "kernel/fs/file.h"
#include "kernel/fs/root.h"

namespace kernel::fs {

// Guest credentials of a socket end. The default is Linux's "none".
struct UnixCred {
  int pid = 0;
  uint32_t uid = 65534;
  uint32_t gid = 65534;
};

// A guest sockaddr_un, parsed. `raw` is what getsockname reports for it:
// family + path + NUL, or family + NUL + abstract name.
struct UnixAddr {
  bool abstract = false;
  std::string name;  // the path as given (maybe relative), or the abstract name
  std::string raw;
};

// Parses a guest sockaddr of `len` bytes (EINVAL as Linux: wrong family or
// length). `len == sizeof(sa_family_t)` gives an empty name (autobind).
Result<UnixAddr> parse_unix_addr(const void* sa, size_t len);

// A host address the kernel may use for connect/sendto, and what pins it.
struct UnixTarget {
  sockaddr_un sa = {};
  socklen_t len = 0;
  base::UniqueFd pin;  // the O_PATH fd of a filesystem target
};

// Resolves a guest name (with `guest_path` the absolute guest path of a
// filesystem name) for a socket of `type` to a host target: ENOENT,
// ECONNREFUSED...
Result<UnixTarget> unix_target(const Root& root, int type, const UnixAddr& a,
                               const std::string& guest_path);

// The guest address (raw) standing for a host address the kernel received:
// empty for len 0 (no address), family only when unnamed or unknown.
std::string unix_guest_name(const sockaddr_un& sa, socklen_t len);
// The guest credentials of the socket that sent from host address `sa` (its
// creator), when the kernel bound that name.
std::optional<UnixCred> unix_sender_cred(const sockaddr_un& sa, socklen_t len);

// SCM_RIGHTS. A guest file in flight travels as a host token: an empty
// memfd whose inode names the file in a kernel-side table until the message
// is received. The host's SCM_RIGHTS carries the token, so the host keeps a
// message and its fds together (stream merging, peeking, truncation); no
// guest file ever becomes a host fd in a message (a host process receiving
// one gets an empty memfd). The files of messages never received are
// dropped when the receiving socket closes (~UnixSocket drains it); those
// queued on a connection that was never accepted stay in the table until
// the kernel exits.
Result<base::UniqueFd> make_file_token(std::shared_ptr<File> f);
// The file that received token `token` stands for (null: not one of ours).
// Unless `peek`, the token is spent.
std::shared_ptr<File> file_of_token(int token, bool peek);
// A token whose message was not sent.
void forget_file_token(int token);
// Control data a host recvmsg gave: spends the tokens in it (and closes
// every fd in it) without giving them to anyone.
void drop_received_rights(msghdr& m);

class UnixSocket : public File {
 public:
  UnixSocket(base::UniqueFd host, std::string path, int type, int flags, UnixCred cred);
  ~UnixSocket() override;

  // recv(2): files in flight that come with the data are dropped.
  Result<uint64_t> read(mm::MemoryManager& mm, uint64_t buf, uint64_t len) override;
  // send(2) with MSG_NOSIGNAL: a closed peer is EPIPE for the guest (the
  // caller raises the guest's SIGPIPE), never a SIGPIPE of the kernel.
  Result<uint64_t> write(mm::MemoryManager& mm, uint64_t buf, uint64_t len) override;
  Result<struct stat> stat() override { return host_->stat(); }
  // SIOCINQ (FIONREAD) and SIOCOUTQ: bytes queued, from the host socket.
  Result<uint64_t> ioctl(mm::MemoryManager& mm, uint64_t cmd, uint64_t arg) override;
  short poll_events(short events) override { return host_->poll_events(events); }
  int host_fd() const override { return host_->host_fd(); }

  int type() const { return type_; }

  // bind(2) of a parsed guest address; `guest_path` is the absolute guest
  // path of a filesystem name. An empty name autobinds (an abstract name).
  Result<void> bind(const Root& root, const UnixAddr& a, const std::string& guest_path);
  // listen(2): this process's credentials go to the sockets that connect.
  Result<void> listen(int backlog, UnixCred cred);
  // After a successful host connect (stream/seqpacket): records `cred` for
  // the accepting side and takes the listener's credentials and guest name.
  void connected(UnixCred cred, const std::string& fallback_peer);
  // An accepted host socket of this listener as a new guest socket.
  std::shared_ptr<UnixSocket> accepted(base::UniqueFd host, std::string path, int flags);

  // After a send or connect: the host may have autobound an unnamed socket
  // (SO_PASSCRED on either end); its name joins the guest's namespace.
  void note_host_autobind();

  // getsockname's answer: the bound guest address, or the family alone.
  std::string local() const;
  // Set when known at connect/accept/socketpair (empty: ask the host).
  const std::string& peer() const { return peer_; }
  void set_peer(std::string raw) { peer_ = std::move(raw); }
  const UnixCred& peer_cred() const { return peer_cred_; }
  void set_peer_cred(UnixCred c) { peer_cred_ = c; }
  const UnixCred& cred() const { return cred_; }

 private:
  std::shared_ptr<File> host_;  // the host socket as a HostFile
  int type_;
  UnixCred cred_;       // this end's owner (creator, connector)
  UnixCred peer_cred_;  // SO_PEERCRED
  std::string local_;   // guest raw address bound (empty: unnamed)
  std::string peer_;
  std::string host_key_;       // host name bound (registry key), empty if none
  std::string abstract_name_;  // key of the guest abstract name owned, if any
  bool has_abstract_ = false;
  base::UniqueFd dir_;  // the O_PATH directory of a filesystem name
};

}  // namespace kernel::fs
