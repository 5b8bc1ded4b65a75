#pragma once
// FdTable: a process's file descriptors -> open files, with FD_CLOEXEC.
// Copied by fork (the files are shared), pruned by execve.
//
// Threads: the kernel thread only.

#include <memory>
#include <vector>

#include "kernel/fs/file.h"

namespace kernel::fs {

inline constexpr int kMaxFds = 1024;  // RLIMIT_NOFILE

class FdTable {
 public:
  // The lowest free fd >= min_fd (EMFILE when none).
  Result<int> install(std::shared_ptr<File> file, bool cloexec, int min_fd = 0);
  Result<std::shared_ptr<File>> get(int fd) const;
  Result<void> close(int fd);
  // dup2/dup3: `newfd` now refers to `oldfd`'s file.
  Result<int> dup_to(int oldfd, int newfd, bool cloexec);
  Result<bool> cloexec(int fd) const;
  Result<void> set_cloexec(int fd, bool on);
  void close_on_exec();
  void close_all() { entries_.clear(); }
  // The open fds, ascending (/proc/PID/fd).
  std::vector<int> open_fds() const {
    std::vector<int> out;
    for (size_t i = 0; i < entries_.size(); ++i)
      if (entries_[i].file) out.push_back(static_cast<int>(i));
    return out;
  }

 private:
  struct Entry {
    std::shared_ptr<File> file;
    bool cloexec = false;
  };
  std::vector<Entry> entries_;
};

}  // namespace kernel::fs
