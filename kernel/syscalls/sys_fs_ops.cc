// Name and metadata operations on files of the root: rename, link, symlink,
// chmod, chown, truncate, utimensat, statx, statfs, sync, and small ones.
//
// Operations that follow the last component open it with openat2 inside the
// root first and then act on that exact inode (an O_PATH fd, or
// /proc/self/fd/N of the kernel process), never on a host path, so a
// symlink's host meaning never counts.

#include <fcntl.h>
#include <linux/stat.h>
#include <sys/file.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstring>

#include "kernel/syscalls/file_paths.h"
#include "kernel/syscalls/handlers.h"
#include "kernel/syscalls/util.h"

namespace kernel::syscalls {
namespace {

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

Result<uint64_t> do_rename(task::Kernel& k, const std::string& from, const std::string& to,
                           unsigned flags) {
  auto [od, on] = TRY(k.root().open_parent(from));
  auto [nd, nn] = TRY(k.root().open_parent(to));
  if (on.empty() || nn.empty()) return Errno(EBUSY);
  if (::syscall(SYS_renameat2, od.get(), on.c_str(), nd.get(), nn.c_str(), flags) < 0)
    return Errno::last();
  return 0;
}

Result<uint64_t> do_link(task::Kernel& k, const std::string& from, const std::string& to,
                         bool follow) {
  auto [nd, nn] = TRY(k.root().open_parent(to));
  if (nn.empty()) return Errno(EEXIST);
  // The source is resolved inside the root, then linked by its O_PATH fd.
  auto src = TRY(k.root().open_path(from, O_PATH | (follow ? 0 : O_NOFOLLOW)));
  if (::linkat(src.get(), "", nd.get(), nn.c_str(), AT_EMPTY_PATH) < 0) return Errno::last();
  return 0;
}

Result<uint64_t> do_symlink(task::Kernel& k, const std::string& target, const std::string& path) {
  auto [d, name] = TRY(k.root().open_parent(path));
  if (name.empty()) return Errno(EEXIST);
  // The target is stored verbatim; it is only ever resolved inside the root.
  if (::symlinkat(target.c_str(), d.get(), name.c_str()) < 0) return Errno::last();
  return 0;
}

Result<uint64_t> do_chmod(task::Kernel& k, const std::string& path, mode_t mode) {
  auto fd = TRY(k.root().open_path(path, O_PATH));
  if (::chmod(fd_path(fd.get()).c_str(), mode & 07777) < 0) return Errno::last();
  return 0;
}

Result<uint64_t> do_chown(task::Kernel& k, const std::string& path, uid_t uid, gid_t gid,
                          bool follow) {
  auto fd = TRY(k.root().open_path(path, O_PATH | (follow ? 0 : O_NOFOLLOW)));
  if (::fchownat(fd.get(), "", uid, gid, AT_EMPTY_PATH) < 0) return Errno::last();
  return 0;
}

struct statx statx_from_stat(const struct stat& st) {
  struct statx sx = {};
  sx.stx_mask = STATX_BASIC_STATS;
  sx.stx_blksize = st.st_blksize;
  sx.stx_nlink = st.st_nlink;
  sx.stx_uid = st.st_uid;
  sx.stx_gid = st.st_gid;
  sx.stx_mode = st.st_mode;
  sx.stx_ino = st.st_ino;
  sx.stx_size = st.st_size;
  sx.stx_blocks = st.st_blocks;
  sx.stx_atime = {st.st_atim.tv_sec, static_cast<uint32_t>(st.st_atim.tv_nsec), 0};
  sx.stx_mtime = {st.st_mtim.tv_sec, static_cast<uint32_t>(st.st_mtim.tv_nsec), 0};
  sx.stx_ctime = {st.st_ctim.tv_sec, static_cast<uint32_t>(st.st_ctim.tv_nsec), 0};
  sx.stx_rdev_major = major(st.st_rdev);
  sx.stx_rdev_minor = minor(st.st_rdev);
  sx.stx_dev_major = major(st.st_dev);
  sx.stx_dev_minor = minor(st.st_dev);
  return sx;
}

}  // namespace

PANGAEA_SYSCALL(rename) {
  std::string from = TRY(at_path(k, p, AT_FDCWD, a.a[0]));
  std::string to = TRY(at_path(k, p, AT_FDCWD, a.a[1]));
  return do_rename(k, from, to, 0);
}

PANGAEA_SYSCALL(renameat) {
  std::string from = TRY(at_path(k, p, arg_int(a.a[0]), a.a[1]));
  std::string to = TRY(at_path(k, p, arg_int(a.a[2]), a.a[3]));
  return do_rename(k, from, to, 0);
}

PANGAEA_SYSCALL(renameat2) {
  unsigned flags = static_cast<unsigned>(a.a[4]);
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) return Errno(EINVAL);
  std::string from = TRY(at_path(k, p, arg_int(a.a[0]), a.a[1]));
  std::string to = TRY(at_path(k, p, arg_int(a.a[2]), a.a[3]));
  return do_rename(k, from, to, flags);
}

PANGAEA_SYSCALL(link) {
  std::string from = TRY(at_path(k, p, AT_FDCWD, a.a[0]));
  std::string to = TRY(at_path(k, p, AT_FDCWD, a.a[1]));
  return do_link(k, from, to, false);
}

PANGAEA_SYSCALL(linkat) {
  int flags = arg_int(a.a[4]);
  if (flags & ~AT_SYMLINK_FOLLOW) return Errno(EINVAL);
  std::string from = TRY(at_path(k, p, arg_int(a.a[0]), a.a[1]));
  std::string to = TRY(at_path(k, p, arg_int(a.a[2]), a.a[3]));
  return do_link(k, from, to, flags & AT_SYMLINK_FOLLOW);
}

PANGAEA_SYSCALL(symlink) {
  std::string target = TRY(p.mm->copy_in_string(a.a[0], PATH_MAX));
  if (target.empty()) return Errno(ENOENT);
  std::string path = TRY(at_path(k, p, AT_FDCWD, a.a[1]));
  return do_symlink(k, target, path);
}

PANGAEA_SYSCALL(symlinkat) {
  std::string target = TRY(p.mm->copy_in_string(a.a[0], PATH_MAX));
  if (target.empty()) return Errno(ENOENT);
  std::string path = TRY(at_path(k, p, arg_int(a.a[1]), a.a[2]));
  return do_symlink(k, target, path);
}

PANGAEA_SYSCALL(chmod) {
  std::string path = TRY(at_path(k, p, AT_FDCWD, a.a[0]));
  return do_chmod(k, path, arg_int(a.a[1]));
}

PANGAEA_SYSCALL(fchmodat) {
  std::string path = TRY(at_path(k, p, arg_int(a.a[0]), a.a[1]));
  return do_chmod(k, path, arg_int(a.a[2]));
}

PANGAEA_SYSCALL(fchmod) {
  (void)k;
  auto f = TRY(p.fds.get(arg_int(a.a[0])));
  if (f->host_fd() < 0) return 0;
  if (::chmod(fd_path(f->host_fd()).c_str(), a.a[1] & 07777) < 0) return Errno::last();
  return 0;
}

PANGAEA_SYSCALL(chown) {
  std::string path = TRY(at_path(k, p, AT_FDCWD, a.a[0]));
  return do_chown(k, path, arg_int(a.a[1]), arg_int(a.a[2]), true);
}

PANGAEA_SYSCALL(lchown) {
  std::string path = TRY(at_path(k, p, AT_FDCWD, a.a[0]));
  return do_chown(k, path, arg_int(a.a[1]), arg_int(a.a[2]), false);
}

PANGAEA_SYSCALL(fchownat) {
  int flags = arg_int(a.a[4]);
  std::string path = TRY(at_path(k, p, arg_int(a.a[0]), a.a[1], flags & AT_EMPTY_PATH));
  if (path.empty()) {
    auto f = TRY(p.fds.get(arg_int(a.a[0])));
    if (f->host_fd() < 0) return 0;
    if (::fchown(f->host_fd(), arg_int(a.a[2]), arg_int(a.a[3])) < 0) return Errno::last();
    return 0;
  }
  return do_chown(k, path, arg_int(a.a[2]), arg_int(a.a[3]), !(flags & AT_SYMLINK_NOFOLLOW));
}

PANGAEA_SYSCALL(fchown) {
  (void)k;
  auto f = TRY(p.fds.get(arg_int(a.a[0])));
  if (f->host_fd() < 0) return 0;
  if (::fchown(f->host_fd(), arg_int(a.a[1]), arg_int(a.a[2])) < 0) return Errno::last();
  return 0;
}

PANGAEA_SYSCALL(truncate) {
  std::string path = TRY(at_path(k, p, AT_FDCWD, a.a[0]));
  if (static_cast<int64_t>(a.a[1]) < 0) return Errno(EINVAL);
  auto fd = TRY(k.root().open_path(path, O_WRONLY));
  if (::ftruncate(fd.get(), static_cast<off_t>(a.a[1])) < 0) return Errno::last();
  return 0;
}

PANGAEA_SYSCALL(ftruncate) {
  (void)k;
  auto f = TRY(p.fds.get(arg_int(a.a[0])));
  if (static_cast<int64_t>(a.a[1]) < 0) return Errno(EINVAL);
  if (f->host_fd() < 0 || (f->flags() & O_ACCMODE) == O_RDONLY) return Errno(EINVAL);
  if (::ftruncate(f->host_fd(), static_cast<off_t>(a.a[1])) < 0) return Errno::last();
  return 0;
}

PANGAEA_SYSCALL(fsync) {
  (void)k;
  auto f = TRY(p.fds.get(arg_int(a.a[0])));
  if (f->host_fd() >= 0 && ::fsync(f->host_fd()) < 0 && errno != EINVAL) return Errno::last();
  return 0;
}

PANGAEA_SYSCALL(sync) {
  (void)k, (void)p, (void)a;
  return 0;  // the host's page cache is the guest's; nothing of ours to flush
}

PANGAEA_SYSCALL(utimensat) {
  int flags = arg_int(a.a[3]);
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return Errno(EINVAL);
  struct timespec ts[2];
  struct timespec* tsp = nullptr;
  if (a.a[2]) {
    TRY(p.mm->copy_in(a.a[2], ts, sizeof(ts)));
    tsp = ts;
  }
  base::UniqueFd fd;
  int host;
  if (a.a[1] == 0) {  // futimens: the fd itself
    auto f = TRY(p.fds.get(arg_int(a.a[0])));
    host = f->host_fd();
    if (host < 0) return 0;
  } else {
    std::string path = TRY(at_path(k, p, arg_int(a.a[0]), a.a[1], flags & AT_EMPTY_PATH));
    if (path.empty()) {
      auto f = TRY(p.fds.get(arg_int(a.a[0])));
      host = f->host_fd();
      if (host < 0) return 0;
    } else {
      fd = TRY(k.root().open_path(path, O_PATH | ((flags & AT_SYMLINK_NOFOLLOW) ? O_NOFOLLOW : 0)));
      host = fd.get();
    }
  }
  if (::utimensat(AT_FDCWD, fd_path(host).c_str(), tsp, 0) < 0) return Errno::last();
  return 0;
}

PANGAEA_SYSCALL(statx) {
  int flags = arg_int(a.a[2]);
  bool follow = !(flags & AT_SYMLINK_NOFOLLOW);
  std::string path = TRY(at_path(k, p, arg_int(a.a[0]), a.a[1], flags & AT_EMPTY_PATH));
  struct statx sx = {};
  int host = -1;
  base::UniqueFd fd;
  if (path.empty() && arg_int(a.a[0]) != AT_FDCWD) {
    auto file = TRY(p.fds.get(arg_int(a.a[0])));
    host = file->host_fd();
    if (host < 0) sx = statx_from_stat(TRY(file->stat()));
  } else {
    if (path.empty()) path = p.cwd;
    if (kernel_served_path(path)) {
      sx = statx_from_stat(TRY(stat_guest_path(k, p, path, follow)));
    } else {
      fd = TRY(k.root().open_path(path, O_PATH | (follow ? 0 : O_NOFOLLOW)));
      host = fd.get();
    }
  }
  if (host >= 0 && ::statx(host, "", AT_EMPTY_PATH | (flags & AT_STATX_SYNC_TYPE),
                           static_cast<unsigned>(a.a[3]), &sx) < 0)
    return Errno::last();
  TRY(p.mm->copy_out(a.a[4], &sx, sizeof(sx)));
  return 0;
}

PANGAEA_SYSCALL(statfs) {
  std::string path = TRY(at_path(k, p, AT_FDCWD, a.a[0]));
  auto fd = TRY(k.root().open_path(path, O_PATH));
  struct statfs s;
  if (::fstatfs(fd.get(), &s) < 0) return Errno::last();
  TRY(p.mm->copy_out(a.a[1], &s, sizeof(s)));
  return 0;
}

PANGAEA_SYSCALL(fstatfs) {
  (void)k;
  auto f = TRY(p.fds.get(arg_int(a.a[0])));
  struct statfs s = {};
  if (f->host_fd() >= 0) {
    if (::fstatfs(f->host_fd(), &s) < 0) return Errno::last();
  } else {
    s.f_type = 0x9fa0;  // PROC_SUPER_MAGIC-like: a kernel-made file
    s.f_bsize = 4096;
    s.f_namelen = 255;
  }
  TRY(p.mm->copy_out(a.a[1], &s, sizeof(s)));
  return 0;
}

PANGAEA_SYSCALL(fadvise64) {
  (void)k;
  TRY(p.fds.get(arg_int(a.a[0])));
  return 0;
}

PANGAEA_SYSCALL(flock) {
  (void)k;
  auto f = TRY(p.fds.get(arg_int(a.a[0])));
  // Non-blocking on the host: a guest never blocks the kernel thread.
  if (f->host_fd() >= 0 && ::flock(f->host_fd(), arg_int(a.a[1]) | LOCK_NB) < 0)
    return Errno::last();
  return 0;
}

PANGAEA_SYSCALL(sendfile) {
  (void)k;
  auto out = TRY(p.fds.get(arg_int(a.a[0])));
  auto in = TRY(p.fds.get(arg_int(a.a[1])));
  // Host to host only; otherwise EINVAL, which makes callers fall back to
  // read/write (as for a file system without sendfile).
  if (out->host_fd() < 0 || in->host_fd() < 0) return Errno(EINVAL);
  off_t off = 0;
  off_t* offp = nullptr;
  if (a.a[2]) {
    off = TRY(p.mm->copy_in(mm::UserPtr<off_t>(a.a[2])));
    offp = &off;
  }
  ssize_t n = ::sendfile(out->host_fd(), in->host_fd(), offp, std::min<uint64_t>(a.a[3], 1 << 20));
  if (n < 0) return Errno::last();
  if (offp) TRY(p.mm->copy_out(mm::UserPtr<off_t>(a.a[2]), off));
  return static_cast<uint64_t>(n);
}

PANGAEA_SYSCALL(getxattr) {
  (void)k, (void)p, (void)a;
  return Errno(ENODATA);  // no extended attributes in hostfs (yet)
}

PANGAEA_SYSCALL(listxattr) {
  (void)k, (void)p, (void)a;
  return 0;
}

PANGAEA_SYSCALL(setxattr) {
  (void)k, (void)p, (void)a;
  return Errno(EOPNOTSUPP);
}

PANGAEA_SYSCALL(creat) {
  SyscallArgs b = {
      {static_cast<uint64_t>(AT_FDCWD), a.a[0], O_CREAT | O_WRONLY | O_TRUNC, a.a[1], 0, 0}};
  return sys_openat(k, p, t, b);
}

}  // namespace kernel::syscalls
