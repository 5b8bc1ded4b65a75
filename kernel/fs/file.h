#pragma once
// File: an open file description of the guest (what a guest fd points at).
// Shared between fds by dup and fork, as in Linux, so the offset is shared.
// Implementations: host files of the root (HostFile), the console (a host
// fd given by con0=), /dev/null and /dev/zero.
//
// Threads: the kernel thread only.

#include <sys/stat.h>

#include <memory>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"
#include "kernel/fs/wait_queue.h"
#include "kernel/mm/memory_manager.h"

namespace kernel::fs {

using base::Errno;
using base::Result;

class File {
 public:
  virtual ~File() = default;
  virtual Result<uint64_t> read(mm::MemoryManager& mm, uint64_t buf, uint64_t len) = 0;
  virtual Result<uint64_t> write(mm::MemoryManager& mm, uint64_t buf, uint64_t len) = 0;
  virtual Result<uint64_t> pread(mm::MemoryManager&, uint64_t, uint64_t, uint64_t) {
    return Errno(ESPIPE);
  }
  virtual Result<uint64_t> pwrite(mm::MemoryManager&, uint64_t, uint64_t, uint64_t) {
    return Errno(ESPIPE);
  }
  virtual Result<struct stat> stat() = 0;
  virtual Result<uint64_t> lseek(int64_t, int) { return Errno(ESPIPE); }
  virtual Result<uint64_t> getdents64(mm::MemoryManager&, uint64_t, uint64_t) {
    return Errno(ENOTDIR);
  }
  // Terminal ioctls the kernel passes through (TCGETS, TIOCGWINSZ, ...).
  virtual Result<uint64_t> ioctl(mm::MemoryManager&, uint64_t, uint64_t) { return Errno(ENOTTY); }
  // Which of `events` (POLLIN, POLLOUT...) are ready now. The default asks
  // the host fd, or says ready for files that never block.
  virtual short poll_events(short events);
  // Where to wait when read/write said EAGAIN (null: never blocks).
  virtual WaitQueue* wait_queue(bool /*for_write*/) { return nullptr; }
  // The host fd behind the file, for mmap and *at calls (-1: none).
  virtual int host_fd() const { return -1; }
  // The host fd whose POLLIN/POLLOUT a poller may wait for when the file
  // has no wait queue (an epoll's host epoll instance, which is no file to
  // hand to other host calls). Default: host_fd().
  virtual int poll_host_fd() const { return host_fd(); }

  const std::string& path() const { return path_; }
  int flags() const { return flags_; }
  void set_flags(int f) { flags_ = f; }

 protected:
  File(std::string path, int flags) : path_(std::move(path)), flags_(flags) {}
  std::string path_;  // guest path, for /proc and fchdir
  int flags_;         // open(2) access mode and status flags
};

// The stat of a file with no inode of its own (epoll, eventfd, timerfd):
// no file type bits, as Linux's anonymous inodes.
struct stat anon_inode_stat();

// A host fd (a file or directory inside the root, or a console fd).
std::shared_ptr<File> make_host_file(base::UniqueFd fd, std::string guest_path, int flags);
std::shared_ptr<File> make_dev_null();
std::shared_ptr<File> make_dev_zero();
// The device a guest path names, if it is one the kernel provides itself.
std::shared_ptr<File> open_device(const std::string& guest_path, int flags);

}  // namespace kernel::fs
