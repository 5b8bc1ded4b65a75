#pragma once
// Shared by the socket handler files: sys_socket.cc (AF_INET/AF_INET6 through
// the host, and the dispatch of every socket call) and sys_unix_socket.cc
// (AF_UNIX, fs/unix_socket.h).

#include <sys/socket.h>

#include <string>
#include <vector>

#include "kernel/fs/unix_socket.h"
#include "kernel/syscalls/table.h"
#include "kernel/task/kernel.h"

namespace kernel::syscalls {

// A host call said "not yet": blocks the process on the host fd unless the
// guest's fd is non-blocking (then `err`).
Result<uint64_t> would_block(task::Kernel& k, task::Process& p, int fd, int host, short events,
                             int err);
// Writes `len` bytes of address `sa` to the guest's (addr, *lenp) as Linux
// does: truncated to the guest's buffer, the full length reported.
Result<void> copy_out_sockaddr(task::Process& p, uint64_t addr, uint64_t lenp, const void* sa,
                               socklen_t len);
// The guest's data buffers of a msghdr as host iovecs (at most 1 MiB).
Result<std::vector<iovec>> copy_in_msg_iov(task::Process& p, const msghdr& gm, bool write_to_guest);

// The guest's AF_UNIX socket at `fd`, or null when `fd` is another file.
fs::UnixSocket* unix_socket_of(task::Process& p, int fd);

// AF_UNIX (sys_unix_socket.cc). `fd` is the guest fd of `s`.
Result<uint64_t> unix_socket(task::Kernel& k, task::Process& p, int type, int protocol);
Result<uint64_t> unix_bind(task::Kernel& k, task::Process& p, fs::UnixSocket& s, uint64_t addr,
                           uint64_t len);
Result<uint64_t> unix_connect(task::Kernel& k, task::Process& p, int fd, fs::UnixSocket& s,
                              uint64_t addr, uint64_t len);
Result<uint64_t> unix_listen(task::Process& p, fs::UnixSocket& s, int backlog);
Result<uint64_t> unix_accept4(task::Kernel& k, task::Process& p, int fd, fs::UnixSocket& s,
                              uint64_t addr, uint64_t lenp, int flags);
Result<uint64_t> unix_getsockname(task::Process& p, fs::UnixSocket& s, uint64_t addr,
                                  uint64_t lenp);
Result<uint64_t> unix_getpeername(task::Process& p, fs::UnixSocket& s, uint64_t addr,
                                  uint64_t lenp);
// sendto/sendmsg: `name`/`namelen` the guest's destination address (0: none),
// `gm` the guest's msghdr (its control messages), `iov` the data.
Result<uint64_t> unix_send(task::Kernel& k, task::Process& p, int fd, fs::UnixSocket& s,
                           std::vector<iovec> iov, uint64_t name, uint64_t namelen,
                           const msghdr* gm, int flags);
// recvfrom/recvmsg: the sender's address to (name, namelenp) as recvfrom
// does, or into the guest's msghdr at `gm_addr` (recvmsg).
Result<uint64_t> unix_recv(task::Kernel& k, task::Process& p, int fd, fs::UnixSocket& s,
                           std::vector<iovec> iov, uint64_t name, uint64_t namelenp,
                           uint64_t gm_addr, int flags);
// getsockopt(SOL_SOCKET, SO_PEERCRED): the peer's guest credentials.
Result<uint64_t> unix_peercred(task::Process& p, fs::UnixSocket& s, uint64_t val, uint64_t lenp);

}  // namespace kernel::syscalls
