// File syscalls: descriptors, paths inside the root, stat, directories.

#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kernel/fs/file.h"
#include "kernel/fs/pipe.h"
#include "kernel/syscalls/file_paths.h"
#include "kernel/syscalls/handlers.h"
#include "kernel/syscalls/socket_common.h"
#include "kernel/syscalls/util.h"
#include "kernel/task/procfs.h"

namespace kernel::syscalls {
namespace {

constexpr int kIovMax = 1024;

// EAGAIN from a file that may block: wait on it unless O_NONBLOCK. EPIPE
// raises SIGPIPE, as Linux does.
Result<uint64_t> finish_io(task::Kernel& k, task::Process& p, fs::File& f, bool write,
                           Result<uint64_t> r) {
  if (!r.ok() && r.error().code == EAGAIN && !(f.flags() & O_NONBLOCK)) {
    if (fs::WaitQueue* q = f.wait_queue(write)) {
      k.block_on(p, *q);
      return Errno(kRestart);
    }
    // A non-blocking host fd (a socket) that the guest uses as blocking.
    if (f.host_fd() >= 0) {
      k.block_on_host(p, f.host_fd(), write ? POLLOUT : POLLIN);
      return Errno(kRestart);
    }
  }
  if (!r.ok() && r.error().code == EPIPE) k.signal(p, SIGPIPE);
  return r;
}

bool readable(const fs::File& f) { return (f.flags() & O_ACCMODE) != O_WRONLY; }
bool writable(const fs::File& f) { return (f.flags() & O_ACCMODE) != O_RDONLY; }

// The console as a file: reads from the console's input fd, writes to its
// output fd (con0=fd:IN,fd:OUT).
Result<std::shared_ptr<fs::File>> open_console(task::Kernel& k, const std::string& path,
                                               int flags) {
  int host = (flags & O_ACCMODE) == O_RDONLY ? k.config().console_in : k.config().console_out;
  int fd = ::fcntl(host, F_DUPFD_CLOEXEC, 3);
  if (fd < 0) return Errno::last();
  return fs::make_host_file(base::UniqueFd(fd), path, flags & ~O_CLOEXEC);
}

bool is_console(const std::string& path) { return path == "/dev/console" || path == "/dev/tty"; }

Result<uint64_t> do_open(task::Kernel& k, task::Process& p, const std::string& path, int flags,
                         mode_t mode, int depth = 0) {
  // Names the kernel serves itself come first: /proc and the devices.
  std::string lex = fs::normalize_lexically(path);
  if (task::is_proc_path(lex)) {
    auto po = TRY(task::proc_open(k, p, lex, flags));
    if (!po.file) {
      if (depth > 4) return Errno(ELOOP);
      return do_open(k, p, po.redirect, flags, mode, depth + 1);
    }
    return static_cast<uint64_t>(TRY(p.fds.install(po.file, flags & O_CLOEXEC)));
  }
  if (auto dev = fs::open_device(lex, flags & ~O_CLOEXEC))
    return static_cast<uint64_t>(TRY(p.fds.install(dev, flags & O_CLOEXEC)));
  if (is_console(lex)) {
    auto f = TRY(open_console(k, lex, flags));
    return static_cast<uint64_t>(TRY(p.fds.install(f, flags & O_CLOEXEC)));
  }
  // Host-side flags: never let a guest fd become a host controlling terminal.
  int host_flags = (flags & ~O_CLOEXEC) | O_NOCTTY;
  auto fd = TRY(k.root().open_path(path, host_flags, mode & ~p.umask));
  std::string canonical = path;
  if (auto g = k.root().guest_path_of(fd.get()); g.ok()) canonical = *g;
  auto file = fs::make_host_file(std::move(fd), canonical, flags & ~O_CLOEXEC);
  return static_cast<uint64_t>(TRY(p.fds.install(file, flags & O_CLOEXEC)));
}

Result<struct stat> stat_path(task::Kernel& k, task::Process& p, const std::string& path,
                              bool follow, int depth);

}  // namespace

bool kernel_served_path(const std::string& path) {
  std::string lex = fs::normalize_lexically(path);
  return task::is_proc_path(lex) || fs::open_device(lex, O_RDONLY) || is_console(lex);
}

Result<struct stat> stat_guest_path(task::Kernel& k, task::Process& p, const std::string& path,
                                    bool follow) {
  return stat_path(k, p, path, follow, 0);
}

namespace {

Result<struct stat> stat_path(task::Kernel& k, task::Process& p, const std::string& path,
                              bool follow, int depth) {
  std::string lex = fs::normalize_lexically(path);
  if (task::is_proc_path(lex)) {
    auto st = task::proc_stat(k, p, lex, follow);
    if (st.ok() || !follow || depth > 4) return st;
    auto target = task::proc_readlink(k, p, lex);  // exe, cwd: follow into the root
    if (!target.ok()) return st;
    return stat_path(k, p, *target, true, depth + 1);
  }
  if (auto dev = fs::open_device(lex, O_RDONLY)) return dev->stat();
  if (is_console(lex)) {
    struct stat st;
    if (::fstat(k.config().console_out, &st) < 0) return Errno::last();
    return st;
  }
  auto fd = TRY(k.root().open_path(path, O_PATH | (follow ? 0 : O_NOFOLLOW)));
  struct stat st;
  if (::fstat(fd.get(), &st) < 0) return Errno::last();
  return st;
}

Result<uint64_t> do_iov(task::Kernel& k, task::Process& p, const SyscallArgs& a, bool write) {
  auto f = TRY(p.fds.get(arg_int(a.a[0])));
  if (write ? !writable(*f) : !readable(*f)) return Errno(EBADF);
  int cnt = arg_int(a.a[2]);
  if (cnt < 0 || cnt > kIovMax) return Errno(EINVAL);
  if (auto* u = dynamic_cast<fs::UnixSocket*>(f.get())) {
    // One message for all the buffers: a datagram keeps its boundaries.
    msghdr gm = {};
    gm.msg_iov = reinterpret_cast<iovec*>(a.a[1]);
    gm.msg_iovlen = cnt;
    auto host = TRY(copy_in_msg_iov(p, gm, !write));
    int fd = arg_int(a.a[0]);
    return write ? unix_send(k, p, fd, *u, std::move(host), 0, 0, nullptr, 0)
                 : unix_recv(k, p, fd, *u, std::move(host), 0, 0, 0, 0);
  }
  std::vector<iovec> iov(cnt);
  TRY(p.mm->copy_in(a.a[1], iov.data(), cnt * sizeof(iovec)));
  uint64_t total = 0;
  for (auto& v : iov) {
    if (v.iov_len == 0) continue;
    auto base = reinterpret_cast<uint64_t>(v.iov_base);
    auto r = write ? f->write(*p.mm, base, v.iov_len) : f->read(*p.mm, base, v.iov_len);
    if (!r.ok()) {
      if (total) break;
      return finish_io(k, p, *f, write, r);
    }
    total += *r;
    if (*r < v.iov_len) break;
  }
  return total;
}

Result<uint64_t> do_readlink(task::Kernel& k, task::Process& p, const std::string& path,
                             uint64_t buf, uint64_t size) {
  if (static_cast<int64_t>(size) <= 0) return Errno(EINVAL);
  std::string target;
  std::string lex = fs::normalize_lexically(path);
  if (task::is_proc_path(lex)) {
    target = TRY(task::proc_readlink(k, p, lex));
  } else {
    auto fd = TRY(k.root().open_path(path, O_PATH | O_NOFOLLOW));
    char tmp[PATH_MAX];
    ssize_t n = ::readlinkat(fd.get(), "", tmp, sizeof(tmp));
    if (n < 0) return Errno::last();
    target.assign(tmp, n);
  }
  size_t n = std::min<size_t>(size, target.size());
  TRY(p.mm->copy_out(buf, target.data(), n));
  return n;
}

Result<uint64_t> do_access(task::Kernel& k, task::Process& p, const std::string& path, int mode) {
  std::string lex = fs::normalize_lexically(path);
  if (task::is_proc_path(lex)) {
    TRY(stat_path(k, p, lex, true, 0));
    return (mode & W_OK) ? Result<uint64_t>(Errno(EACCES)) : Result<uint64_t>(0);
  }
  if (fs::open_device(lex, O_RDONLY) || is_console(lex)) return 0;
  auto fd = TRY(k.root().open_path(path, O_PATH));
  if (::syscall(SYS_faccessat2, fd.get(), "", mode, AT_EMPTY_PATH) < 0) return Errno::last();
  return 0;
}

Result<uint64_t> do_mkdir(task::Kernel& k, task::Process& p, const std::string& path, mode_t mode) {
  auto [dir, name] = TRY(k.root().open_parent(path));
  if (name.empty()) return Errno(EEXIST);
  if (::mkdirat(dir.get(), name.c_str(), mode & ~p.umask & 07777) < 0) return Errno::last();
  return 0;
}

Result<uint64_t> do_unlink(task::Kernel& k, const std::string& path, int flags) {
  auto [dir, name] = TRY(k.root().open_parent(path));
  if (name.empty()) return Errno(flags & AT_REMOVEDIR ? EBUSY : EISDIR);
  if (::unlinkat(dir.get(), name.c_str(), flags & AT_REMOVEDIR) < 0) return Errno::last();
  return 0;
}

}  // namespace

PANGAEA_SYSCALL(read) {
  auto f = TRY(p.fds.get(arg_int(a.a[0])));
  if (!readable(*f)) return Errno(EBADF);
  return finish_io(k, p, *f, false, f->read(*p.mm, a.a[1], a.a[2]));
}

PANGAEA_SYSCALL(write) {
  auto f = TRY(p.fds.get(arg_int(a.a[0])));
  if (!writable(*f)) return Errno(EBADF);
  return finish_io(k, p, *f, true, f->write(*p.mm, a.a[1], a.a[2]));
}

PANGAEA_SYSCALL(readv) { return do_iov(k, p, a, false); }

PANGAEA_SYSCALL(writev) { return do_iov(k, p, a, true); }

PANGAEA_SYSCALL(pipe2) {
  (void)k;
  int flags = arg_int(a.a[1]);
  if (flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT)) return Errno(EINVAL);
  auto [r, w] = fs::make_pipe(flags & O_NONBLOCK);
  int rfd = TRY(p.fds.install(r, flags & O_CLOEXEC));
  auto wfd = p.fds.install(w, flags & O_CLOEXEC);
  if (!wfd.ok()) {
    (void)p.fds.close(rfd);
    return wfd.error();
  }
  int fds[2] = {rfd, *wfd};
  auto c = p.mm->copy_out(a.a[0], fds, sizeof(fds));
  if (!c.ok()) {
    (void)p.fds.close(rfd);
    (void)p.fds.close(*wfd);
    return c.error();
  }
  return 0;
}

PANGAEA_SYSCALL(pipe) {
  SyscallArgs b = a;
  b.a[1] = 0;
  return sys_pipe2(k, p, t, b);
}

PANGAEA_SYSCALL(pread64) {
  (void)k;
  auto f = TRY(p.fds.get(arg_int(a.a[0])));
  if (!readable(*f)) return Errno(EBADF);
  if (static_cast<int64_t>(a.a[3]) < 0) return Errno(EINVAL);
  return f->pread(*p.mm, a.a[1], a.a[2], a.a[3]);
}

PANGAEA_SYSCALL(pwrite64) {
  (void)k;
  auto f = TRY(p.fds.get(arg_int(a.a[0])));
  if (!writable(*f)) return Errno(EBADF);
  if (static_cast<int64_t>(a.a[3]) < 0) return Errno(EINVAL);
  return f->pwrite(*p.mm, a.a[1], a.a[2], a.a[3]);
}

PANGAEA_SYSCALL(open) {
  std::string path = TRY(at_path(k, p, AT_FDCWD, a.a[0]));
  return do_open(k, p, path, arg_int(a.a[1]), arg_int(a.a[2]));
}

PANGAEA_SYSCALL(openat) {
  std::string path = TRY(at_path(k, p, arg_int(a.a[0]), a.a[1]));
  return do_open(k, p, path, arg_int(a.a[2]), arg_int(a.a[3]));
}

PANGAEA_SYSCALL(close) {
  (void)k;
  TRY(p.fds.close(arg_int(a.a[0])));
  return 0;
}

PANGAEA_SYSCALL(fstat) {
  (void)k;
  auto f = TRY(p.fds.get(arg_int(a.a[0])));
  struct stat st = TRY(f->stat());
  TRY(p.mm->copy_out(a.a[1], &st, sizeof(st)));
  return 0;
}

PANGAEA_SYSCALL(stat) {
  std::string path = TRY(at_path(k, p, AT_FDCWD, a.a[0]));
  struct stat st = TRY(stat_path(k, p, path, true, 0));
  TRY(p.mm->copy_out(a.a[1], &st, sizeof(st)));
  return 0;
}

PANGAEA_SYSCALL(lstat) {
  std::string path = TRY(at_path(k, p, AT_FDCWD, a.a[0]));
  struct stat st = TRY(stat_path(k, p, path, false, 0));
  TRY(p.mm->copy_out(a.a[1], &st, sizeof(st)));
  return 0;
}

PANGAEA_SYSCALL(newfstatat) {
  int flags = arg_int(a.a[3]);
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT)) return Errno(EINVAL);
  std::string path = TRY(at_path(k, p, arg_int(a.a[0]), a.a[1], flags & AT_EMPTY_PATH));
  struct stat st;
  if (path.empty()) {
    int dirfd = arg_int(a.a[0]);
    if (dirfd == AT_FDCWD)
      st = TRY(stat_path(k, p, p.cwd, true, 0));
    else
      st = TRY(TRY(p.fds.get(dirfd))->stat());
  } else {
    st = TRY(stat_path(k, p, path, !(flags & AT_SYMLINK_NOFOLLOW), 0));
  }
  TRY(p.mm->copy_out(a.a[2], &st, sizeof(st)));
  return 0;
}

PANGAEA_SYSCALL(lseek) {
  (void)k;
  auto f = TRY(p.fds.get(arg_int(a.a[0])));
  int whence = arg_int(a.a[2]);
  if (whence < SEEK_SET || whence > SEEK_HOLE) return Errno(EINVAL);
  return f->lseek(static_cast<int64_t>(a.a[1]), whence);
}

PANGAEA_SYSCALL(ioctl) {
  auto f = TRY(p.fds.get(arg_int(a.a[0])));
  uint64_t cmd = static_cast<uint32_t>(a.a[1]);
  if (cmd == TIOCGPGRP || cmd == TIOCSPGRP) {
    // Job control inside the guest: the console's foreground group is one
    // of the guest's own process groups (keyboard signals go to it).
    if (f->host_fd() < 0 || !::isatty(f->host_fd())) return Errno(ENOTTY);
    if (cmd == TIOCGPGRP) {
      int pg = k.console_pgrp();
      TRY(p.mm->copy_out(a.a[2], &pg, sizeof(pg)));
    } else {
      int pg = TRY(p.mm->copy_in(mm::UserPtr<int>(a.a[2])));
      if (pg < 0) return Errno(EINVAL);
      if (!k.group_exists(pg)) return Errno(EPERM);
      k.set_console_pgrp(pg);
    }
    return 0;
  }
  // The fd-level ioctls of every file (Linux's do_vfs_ioctl): what fcntl
  // does, another way (Python's os.set_blocking uses FIONBIO).
  if (cmd == FIONBIO) {
    int on = TRY(p.mm->copy_in(mm::UserPtr<int>(a.a[2])));
    f->set_flags(on ? f->flags() | O_NONBLOCK : f->flags() & ~O_NONBLOCK);
    return 0;
  }
  if (cmd == FIOCLEX || cmd == FIONCLEX) {
    TRY(p.fds.set_cloexec(arg_int(a.a[0]), cmd == FIOCLEX));
    return 0;
  }
  return f->ioctl(*p.mm, cmd, a.a[2]);
}

PANGAEA_SYSCALL(getcwd) {
  (void)k;
  uint64_t len = p.cwd.size() + 1;
  if (a.a[1] < len) return Errno(ERANGE);
  TRY(p.mm->copy_out(a.a[0], p.cwd.c_str(), len));
  return len;
}

PANGAEA_SYSCALL(chdir) {
  std::string path = TRY(at_path(k, p, AT_FDCWD, a.a[0]));
  auto fd = TRY(k.root().open_path(path, O_PATH | O_DIRECTORY));
  p.cwd = TRY(k.root().guest_path_of(fd.get()));
  return 0;
}

PANGAEA_SYSCALL(fchdir) {
  auto f = TRY(p.fds.get(arg_int(a.a[0])));
  struct stat st = TRY(f->stat());
  if (!S_ISDIR(st.st_mode)) return Errno(ENOTDIR);
  (void)k;
  p.cwd = f->path();
  return 0;
}

PANGAEA_SYSCALL(getdents64) {
  (void)k;
  auto f = TRY(p.fds.get(arg_int(a.a[0])));
  return f->getdents64(*p.mm, a.a[1], a.a[2]);
}

PANGAEA_SYSCALL(readlink) {
  std::string path = TRY(at_path(k, p, AT_FDCWD, a.a[0]));
  return do_readlink(k, p, path, a.a[1], a.a[2]);
}

PANGAEA_SYSCALL(readlinkat) {
  std::string path = TRY(at_path(k, p, arg_int(a.a[0]), a.a[1]));
  return do_readlink(k, p, path, a.a[2], a.a[3]);
}

PANGAEA_SYSCALL(access) {
  std::string path = TRY(at_path(k, p, AT_FDCWD, a.a[0]));
  return do_access(k, p, path, arg_int(a.a[1]));
}

PANGAEA_SYSCALL(faccessat) {
  std::string path = TRY(at_path(k, p, arg_int(a.a[0]), a.a[1]));
  return do_access(k, p, path, arg_int(a.a[2]));
}

PANGAEA_SYSCALL(faccessat2) {
  std::string path = TRY(at_path(k, p, arg_int(a.a[0]), a.a[1]));
  return do_access(k, p, path, arg_int(a.a[2]));
}

PANGAEA_SYSCALL(dup) {
  (void)k;
  auto f = TRY(p.fds.get(arg_int(a.a[0])));
  return static_cast<uint64_t>(TRY(p.fds.install(f, false)));
}

PANGAEA_SYSCALL(dup2) {
  (void)k;
  int oldfd = arg_int(a.a[0]), newfd = arg_int(a.a[1]);
  TRY(p.fds.get(oldfd));
  if (oldfd == newfd) return static_cast<uint64_t>(newfd);
  return static_cast<uint64_t>(TRY(p.fds.dup_to(oldfd, newfd, false)));
}

PANGAEA_SYSCALL(dup3) {
  (void)k;
  int oldfd = arg_int(a.a[0]), newfd = arg_int(a.a[1]), flags = arg_int(a.a[2]);
  if (oldfd == newfd || (flags & ~O_CLOEXEC)) return Errno(EINVAL);
  return static_cast<uint64_t>(TRY(p.fds.dup_to(oldfd, newfd, flags & O_CLOEXEC)));
}

PANGAEA_SYSCALL(fcntl) {
  (void)k;
  int fd = arg_int(a.a[0]);
  auto f = TRY(p.fds.get(fd));
  switch (arg_int(a.a[1])) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC:
      return static_cast<uint64_t>(
          TRY(p.fds.install(f, arg_int(a.a[1]) == F_DUPFD_CLOEXEC, arg_int(a.a[2]))));
    case F_GETFD:
      return TRY(p.fds.cloexec(fd)) ? FD_CLOEXEC : 0;
    case F_SETFD:
      TRY(p.fds.set_cloexec(fd, a.a[2] & FD_CLOEXEC));
      return 0;
    case F_GETFL:
      return static_cast<uint64_t>(f->flags());
    case F_SETFL: {
      constexpr int kChangeable = O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME;
      int nf = (f->flags() & ~kChangeable) | (arg_int(a.a[2]) & kChangeable);
      // Host sockets stay O_NONBLOCK whatever the guest asks (a blocking
      // host call would stop the whole kernel).
      bool socket = f->path().rfind("socket:", 0) == 0;
      if (f->host_fd() > 2 && !socket) ::fcntl(f->host_fd(), F_SETFL, nf & ~O_NONBLOCK);
      f->set_flags(nf);
      return 0;
    }
    default:
      return Errno(EINVAL);
  }
}

PANGAEA_SYSCALL(mkdir) {
  std::string path = TRY(at_path(k, p, AT_FDCWD, a.a[0]));
  return do_mkdir(k, p, path, arg_int(a.a[1]));
}

PANGAEA_SYSCALL(mkdirat) {
  std::string path = TRY(at_path(k, p, arg_int(a.a[0]), a.a[1]));
  return do_mkdir(k, p, path, arg_int(a.a[2]));
}

PANGAEA_SYSCALL(unlink) {
  std::string path = TRY(at_path(k, p, AT_FDCWD, a.a[0]));
  return do_unlink(k, path, 0);
}

PANGAEA_SYSCALL(unlinkat) {
  int flags = arg_int(a.a[2]);
  if (flags & ~AT_REMOVEDIR) return Errno(EINVAL);
  std::string path = TRY(at_path(k, p, arg_int(a.a[0]), a.a[1]));
  return do_unlink(k, path, flags);
}

PANGAEA_SYSCALL(rmdir) {
  std::string path = TRY(at_path(k, p, AT_FDCWD, a.a[0]));
  return do_unlink(k, path, AT_REMOVEDIR);
}

PANGAEA_SYSCALL(umask) {
  (void)k;
  mode_t old = p.umask;
  p.umask = a.a[0] & 0777;
  return old;
}

}  // namespace kernel::syscalls
