#pragma once
// Small helpers shared by the handler files.

#include <fcntl.h>
#include <limits.h>

#include <string>

#include "kernel/syscalls/table.h"
#include "kernel/task/kernel.h"

namespace kernel::syscalls {

inline int arg_int(uint64_t v) { return static_cast<int>(static_cast<uint32_t>(v)); }

// The guest path named by (dirfd, path): absolute, or relative to the cwd
// (AT_FDCWD) or to the directory open at dirfd. Empty paths are ENOENT unless
// `allow_empty` (AT_EMPTY_PATH), which yields "".
inline Result<std::string> at_path(task::Kernel& k, task::Process& p, int dirfd, uint64_t addr,
                                   bool allow_empty = false) {
  std::string path = TRY(p.mm->copy_in_string(addr, PATH_MAX));
  if (path.empty()) {
    if (allow_empty) return path;
    return Errno(ENOENT);
  }
  if (path[0] == '/' || dirfd == AT_FDCWD) return k.guest_path(p, path);
  auto dir = TRY(p.fds.get(dirfd));
  if (dir->path().empty()) return Errno(ENOTDIR);
  return fs::join_guest_path(dir->path(), path);
}

}  // namespace kernel::syscalls
