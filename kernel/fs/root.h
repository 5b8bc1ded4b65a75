#pragma once
// Root: the guest's root filesystem, a host directory (UML's hostfs).
//
// Every path the guest names is resolved by the host kernel with openat2's
// RESOLVE_IN_ROOT against the root directory fd: "..", absolute paths and
// symlinks (absolute or relative) are all resolved inside the root, so no
// guest path can name a host file outside it; RESOLVE_NO_MAGICLINKS keeps
// /proc-style magic links from jumping out. What is opened (other than
// O_PATH, which reads nothing) is then checked: host procfs/sysfs/cgroupfs
// files and host device nodes are refused with EACCES, even when the root
// directory contains them (a root of "/"). The guest's current directory is
// kept as a canonical guest path and joined in front of relative paths.
//
// Threads: the kernel thread only.

#include <fcntl.h>
#include <sys/stat.h>

#include <string>
#include <string_view>

#include "base/result.h"
#include "base/unique_fd.h"

namespace kernel::fs {

using base::Errno;
using base::Result;

// Joins `path` onto the guest directory `dir` (both guest paths) and removes
// "." and empty components lexically. ".." is kept: only the host resolver
// knows whether the component before it is a symlink.
std::string join_guest_path(std::string_view dir, std::string_view path);

// Refuses host objects the guest must never get from hostfs: files of the
// host's kernel filesystems (procfs, sysfs, cgroupfs...) and device nodes.
Result<void> check_host_object(int fd);

// `path` (absolute) with "." and ".." resolved lexically, for names the
// kernel serves itself (/proc, /dev): there are no symlinks to honour there.
std::string normalize_lexically(std::string_view path);

class Root {
 public:
  static Result<Root> open(const std::string& host_dir);

  // Opens guest path `path` (absolute) with open(2) flags. O_CLOEXEC is added.
  Result<base::UniqueFd> open_path(const std::string& path, int flags, mode_t mode = 0) const;
  // The canonical guest path of a host fd that was opened inside the root.
  Result<std::string> guest_path_of(int fd) const;
  // The parent directory of `path` (opened O_PATH) and the last component,
  // for *at operations on the name itself (mkdir, unlink, lstat...).
  Result<std::pair<base::UniqueFd, std::string>> open_parent(const std::string& path) const;

  int fd() const { return fd_.get(); }
  const std::string& host_dir() const { return host_dir_; }

 private:
  Root(base::UniqueFd fd, std::string host_dir)
      : fd_(std::move(fd)), host_dir_(std::move(host_dir)) {}
  base::UniqueFd fd_;
  std::string host_dir_;  // canonical host path of the root
};

}  // namespace kernel::fs
