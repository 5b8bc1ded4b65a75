#include "kernel/fs/root.h"

#include <limits.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

namespace kernel::fs {

std::string join_guest_path(std::string_view dir, std::string_view path) {
  std::string full;
  if (path.empty() || path[0] != '/') {
    full.assign(dir);
    full += '/';
  }
  full += path;
  std::string out;
  size_t i = 0;
  while (i < full.size()) {
    size_t j = full.find('/', i);
    if (j == std::string::npos) j = full.size();
    std::string_view comp(full.data() + i, j - i);
    if (!comp.empty() && comp != ".") {
      out += '/';
      out += comp;
    }
    i = j + 1;
  }
  if (out.empty()) out = "/";
  // A trailing slash means "must be a directory": keep it.
  if (full.size() > 1 && full.back() == '/' && out != "/") out += '/';
  return out;
}

std::string normalize_lexically(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view comp = path.substr(i, j - i);
    if (comp == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!comp.empty() && comp != ".") {
      parts.push_back(comp);
    }
    i = j + 1;
  }
  std::string out;
  for (auto c : parts) {
    out += '/';
    out += c;
  }
  return out.empty() ? "/" : out;
}

Result<void> check_host_object(int fd) {
  // The host's kernel filesystems are the host's, not files: /proc/PID/mem
  // of the kernel process, /sys, cgroups, tracing. A root of "/" or a
  // symlink into them must not reach them.
  struct statfs sfs;
  if (::fstatfs(fd, &sfs) < 0) return Errno::last();
  switch (static_cast<unsigned long>(sfs.f_type)) {
    case PROC_SUPER_MAGIC:
    case SYSFS_MAGIC:
    case DEBUGFS_MAGIC:
    case SECURITYFS_MAGIC:
    case TRACEFS_MAGIC:
    case BPF_FS_MAGIC:
    case CGROUP_SUPER_MAGIC:
    case CGROUP2_SUPER_MAGIC:
    case SELINUX_MAGIC:
    case PSTOREFS_MAGIC:
    case EFIVARFS_MAGIC:
      return Errno(EACCES);
    default:
      break;
  }
  // Host device nodes (disks, /dev/mem, ttys) are refused: the guest's
  // devices are the kernel's own (fs/file.h open_device).
  struct stat st;
  if (::fstat(fd, &st) < 0) return Errno::last();
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) return Errno(EACCES);
  return {};
}

Result<Root> Root::open(const std::string& host_dir) {
  char real[PATH_MAX];
  if (!::realpath(host_dir.c_str(), real)) return Errno::last();
  base::UniqueFd fd(::open(real, O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return Errno::last();
  return Root(std::move(fd), real);
}

Result<base::UniqueFd> Root::open_path(const std::string& path, int flags, mode_t mode) const {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  if (flags & (O_CREAT | __O_TMPFILE)) how.mode = mode & 07777;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  // Relative to the root: strip the leading '/'s (RESOLVE_IN_ROOT would treat
  // them as the root anyway).
  size_t skip = path.find_first_not_of('/');
  std::string rel = skip == std::string::npos ? "." : path.substr(skip);
  long fd = ::syscall(SYS_openat2, fd_.get(), rel.c_str(), &how, sizeof(how));
  if (fd < 0) {
    // openat2 says EXDEV/ELOOP for what it refuses to cross; the guest sees
    // what Linux would say for a path that does not lead anywhere.
    if (errno == EXDEV) return Errno(ENOENT);
    return Errno::last();
  }
  base::UniqueFd out(static_cast<int>(fd));
  // An O_PATH fd gives no access to contents (stat, readlink, a directory to
  // start from): host kernel filesystems may be looked at, not opened.
  if (!(flags & O_PATH)) TRY(check_host_object(out.get()));
  return out;
}

Result<std::string> Root::guest_path_of(int fd) const {
  char link[64], buf[PATH_MAX];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  ssize_t n = ::readlink(link, buf, sizeof(buf) - 1);
  if (n < 0) return Errno::last();
  std::string host(buf, n);
  if (host == host_dir_) return std::string("/");
  if (host_dir_ == "/") return host;
  if (host.compare(0, host_dir_.size(), host_dir_) != 0 || host[host_dir_.size()] != '/')
    return Errno(ENOENT);  // moved out of the root under us
  return host.substr(host_dir_.size());
}

Result<std::pair<base::UniqueFd, std::string>> Root::open_parent(const std::string& path) const {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  size_t slash = p.rfind('/');
  std::string dir = slash == 0 || slash == std::string::npos ? "/" : p.substr(0, slash);
  std::string name = slash == std::string::npos ? p : p.substr(slash + 1);
  if (name.empty() || name == "." || name == "..") {
    // The name is the directory itself: operate on it via its own parent-less fd.
    auto fd = TRY(open_path(p, O_PATH | O_DIRECTORY));
    return std::make_pair(std::move(fd), std::string());
  }
  auto fd = TRY(open_path(dir, O_PATH | O_DIRECTORY));
  return std::make_pair(std::move(fd), name);
}

}  // namespace kernel::fs
