#include "kernel/fs/fd_table.h"

namespace kernel::fs {

Result<int> FdTable::install(std::shared_ptr<File> file, bool cloexec, int min_fd) {
  if (min_fd < 0 || min_fd >= kMaxFds) return Errno(EINVAL);
  for (int fd = min_fd; fd < kMaxFds; ++fd) {
    if (fd >= static_cast<int>(entries_.size())) entries_.resize(fd + 1);
    if (!entries_[fd].file) {
      entries_[fd] = {std::move(file), cloexec};
      return fd;
    }
  }
  return Errno(EMFILE);
}

Result<std::shared_ptr<File>> FdTable::get(int fd) const {
  if (fd < 0 || fd >= static_cast<int>(entries_.size()) || !entries_[fd].file) return Errno(EBADF);
  return entries_[fd].file;
}

Result<void> FdTable::close(int fd) {
  TRY(get(fd));
  entries_[fd] = {};
  return {};
}

Result<int> FdTable::dup_to(int oldfd, int newfd, bool cloexec) {
  auto f = TRY(get(oldfd));
  if (newfd < 0 || newfd >= kMaxFds) return Errno(EBADF);
  if (newfd >= static_cast<int>(entries_.size())) entries_.resize(newfd + 1);
  entries_[newfd] = {std::move(f), cloexec};
  return newfd;
}

Result<bool> FdTable::cloexec(int fd) const {
  TRY(get(fd));
  return entries_[fd].cloexec;
}

Result<void> FdTable::set_cloexec(int fd, bool on) {
  TRY(get(fd));
  entries_[fd].cloexec = on;
  return {};
}

void FdTable::close_on_exec() {
  for (auto& e : entries_)
    if (e.cloexec) e = {};
}

}  // namespace kernel::fs
