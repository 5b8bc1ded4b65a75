#include "kernel/fs/file.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "base/bytes.h"

namespace kernel::fs {
namespace {

// The termios of the TCGETS/TCSETS ioctls: the kernel's layout (asm
// termbits: 19 control characters, no speeds), not glibc's larger `struct
// termios`, which its tcgetattr converts from this one. Copying glibc's
// size out overran the guest's buffer.
struct KernelTermios {
  uint32_t c_iflag, c_oflag, c_cflag, c_lflag;
  uint8_t c_line;
  uint8_t c_cc[19];
};
static_assert(sizeof(KernelTermios) == 36);

// One host readv/writev takes at most this many bytes (IOV_MAX pages).
constexpr uint64_t kMaxIo = 1ull << 20;

class HostFile : public File {
 public:
  HostFile(base::UniqueFd fd, std::string path, int flags)
      : File(std::move(path), flags), fd_(std::move(fd)) {
    struct stat st;
    bool ok = ::fstat(fd_.get(), &st) == 0;
    may_block_ = ok && (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode));
    socket_ = ok && S_ISSOCK(st.st_mode);
    if (ok && S_ISREG(st.st_mode)) {
      regular_ = true;
      dev_ = st.st_dev;
      ino_ = st.st_ino;
    }
  }

  Result<uint64_t> read(mm::MemoryManager& mm, uint64_t buf, uint64_t len) override {
    // A terminal or a host pipe (the console) with nothing to read: EAGAIN,
    // so the caller waits in the scheduler (or the guest sees O_NONBLOCK's
    // EAGAIN) instead of the whole kernel blocking in read(2).
    if (may_block_ && len != 0) {
      pollfd pfd{fd_.get(), POLLIN, 0};
      if (::poll(&pfd, 1, 0) == 0) return Errno(EAGAIN);
    }
    return io(mm, buf, len, -1, false);
  }
  Result<uint64_t> write(mm::MemoryManager& mm, uint64_t buf, uint64_t len) override {
    return io(mm, buf, len, -1, true);
  }
  Result<uint64_t> pread(mm::MemoryManager& mm, uint64_t buf, uint64_t len, uint64_t off) override {
    return io(mm, buf, len, static_cast<int64_t>(off), false);
  }
  Result<uint64_t> pwrite(mm::MemoryManager& mm, uint64_t buf, uint64_t len,
                          uint64_t off) override {
    return io(mm, buf, len, static_cast<int64_t>(off), true);
  }
  Result<struct stat> stat() override {
    struct stat st;
    if (::fstat(fd_.get(), &st) < 0) return Errno::last();
    return st;
  }
  Result<uint64_t> lseek(int64_t off, int whence) override {
    off_t r = ::lseek(fd_.get(), off, whence);
    if (r < 0) return Errno::last();
    return static_cast<uint64_t>(r);
  }
  Result<uint64_t> getdents64(mm::MemoryManager& mm, uint64_t buf, uint64_t len) override {
    std::vector<char> tmp(std::min<uint64_t>(len, 64 * 1024));
    long n = ::syscall(SYS_getdents64, fd_.get(), tmp.data(), tmp.size());
    if (n < 0) return Errno::last();
    TRY(mm.copy_out(buf, tmp.data(), n));
    return static_cast<uint64_t>(n);
  }
  Result<uint64_t> ioctl(mm::MemoryManager& mm, uint64_t cmd, uint64_t arg) override {
    switch (cmd) {
      case TCGETS: {
        KernelTermios t;
        if (::ioctl(fd_.get(), TCGETS, &t) < 0) return Errno::last();
        TRY(mm.copy_out(arg, &t, sizeof(t)));
        return 0;
      }
      case TCSETS:
      case TCSETSW:
      case TCSETSF: {
        KernelTermios t;
        TRY(mm.copy_in(arg, &t, sizeof(t)));
        if (::ioctl(fd_.get(), cmd, &t) < 0) return Errno::last();
        return 0;
      }
      case TIOCGWINSZ: {
        struct winsize w;
        if (::ioctl(fd_.get(), TIOCGWINSZ, &w) < 0) return Errno::last();
        TRY(mm.copy_out(arg, &w, sizeof(w)));
        return 0;
      }
      case FIONREAD: {
        int n;
        if (::ioctl(fd_.get(), FIONREAD, &n) < 0) return Errno::last();
        TRY(mm.copy_out(arg, &n, sizeof(n)));
        return 0;
      }
      default:
        return Errno(ENOTTY);
    }
  }
  int host_fd() const override { return fd_.get(); }

 private:
  // A regular file some guest maps shared goes through its SharedObject's
  // pages first (read) or after (write), so read(2), write(2) and the
  // mappings agree (shared_object.h).
  Result<uint64_t> io(mm::MemoryManager& mm, uint64_t buf, uint64_t len, int64_t off, bool write) {
    std::shared_ptr<mm::SharedObject> shared = regular_ ? mm.shared_file(dev_, ino_) : nullptr;
    if (!shared) return io_host(mm, buf, len, off, write);
    if (!write) {
      int64_t at = off >= 0 ? off : ::lseek(fd_.get(), 0, SEEK_CUR);
      if (at >= 0) {
        uint64_t lo = static_cast<uint64_t>(at) / base::kPageSize;
        TRY(shared->write_back(lo, base::page_round_up(static_cast<uint64_t>(at) + len) / base::kPageSize));
      }
      return io_host(mm, buf, len, off, write);
    }
    uint64_t done = TRY(io_host(mm, buf, len, off, write));
    int64_t end = off >= 0 ? off + static_cast<int64_t>(done) : ::lseek(fd_.get(), 0, SEEK_CUR);
    if (done > 0 && end >= static_cast<int64_t>(done))
      TRY(shared->reload(static_cast<uint64_t>(end) - done, done));
    return done;
  }

  Result<uint64_t> io_host(mm::MemoryManager& mm, uint64_t buf, uint64_t len, int64_t off,
                           bool write) {
    uint64_t done = 0;
    while (done < len) {
      uint64_t n = std::min(len - done, kMaxIo);
      // Reading into guest memory means the kernel writes it, and vice versa.
      auto iov = mm.host_iovecs(buf + done, n, !write);
      if (!iov.ok()) {
        if (done) return done;
        return iov.error();
      }
      ssize_t r;
      if (off >= 0)
        r = write ? ::pwritev(fd_.get(), iov->data(), iov->size(), off + done)
                  : ::preadv(fd_.get(), iov->data(), iov->size(), off + done);
      else
        r = write ? host_writev(*iov) : ::readv(fd_.get(), iov->data(), iov->size());
      if (r < 0) {
        if (errno == EINTR) continue;
        if (done) return done;
        return Errno::last();
      }
      done += r;
      if (static_cast<uint64_t>(r) < n) break;
    }
    return done;
  }

  // A socket whose peer is gone says EPIPE (the syscall layer raises the
  // guest's SIGPIPE): MSG_NOSIGNAL, or the kernel itself would get SIGPIPE.
  ssize_t host_writev(std::vector<iovec>& iov) {
    if (!socket_) return ::writev(fd_.get(), iov.data(), iov.size());
    msghdr msg = {};
    msg.msg_iov = iov.data();
    msg.msg_iovlen = iov.size();
    return ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  }

  base::UniqueFd fd_;
  bool may_block_ = false;  // a character device or FIFO: reads may wait
  bool socket_ = false;
  bool regular_ = false;  // a regular file: dev_/ino_ name it
  uint64_t dev_ = 0, ino_ = 0;
};

class DevFile : public File {
 public:
  enum class Kind { kNull, kZero, kRandom };
  DevFile(std::string path, int flags, Kind kind, dev_t rdev)
      : File(std::move(path), flags), kind_(kind), rdev_(rdev) {}
  Result<uint64_t> read(mm::MemoryManager& mm, uint64_t buf, uint64_t len) override {
    if (kind_ == Kind::kNull) return 0;
    if (kind_ == Kind::kRandom) {
      uint8_t tmp[4096];
      uint64_t n = std::min<uint64_t>(len, sizeof(tmp));
      if (::getrandom(tmp, n, 0) != static_cast<ssize_t>(n)) return Errno(EIO);
      TRY(mm.copy_out(buf, tmp, n));
      return n;
    }
    static const char zeros[4096] = {};
    uint64_t done = 0;
    while (done < len) {
      uint64_t n = std::min<uint64_t>(len - done, sizeof(zeros));
      TRY(mm.copy_out(buf + done, zeros, n));
      done += n;
    }
    return done;
  }
  Result<uint64_t> write(mm::MemoryManager&, uint64_t, uint64_t len) override { return len; }
  Result<uint64_t> pread(mm::MemoryManager& mm, uint64_t buf, uint64_t len, uint64_t) override {
    return read(mm, buf, len);
  }
  Result<uint64_t> pwrite(mm::MemoryManager&, uint64_t, uint64_t len, uint64_t) override {
    return len;
  }
  Result<uint64_t> lseek(int64_t, int) override { return 0; }
  Result<struct stat> stat() override {
    struct stat st = {};
    st.st_mode = S_IFCHR | 0666;
    st.st_rdev = rdev_;
    st.st_nlink = 1;
    st.st_blksize = 4096;
    return st;
  }

 private:
  Kind kind_;
  dev_t rdev_;
};

}  // namespace

short File::poll_events(short events) {
  int fd = host_fd();
  if (fd < 0) return events & (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM);
  struct pollfd pfd = {fd, events, 0};
  if (::poll(&pfd, 1, 0) < 0) return POLLERR;
  return pfd.revents;
}

struct stat anon_inode_stat() {
  struct stat st = {};
  st.st_mode = 0600;
  st.st_nlink = 1;
  st.st_blksize = 4096;
  return st;
}

std::shared_ptr<File> make_host_file(base::UniqueFd fd, std::string guest_path, int flags) {
  return std::make_shared<HostFile>(std::move(fd), std::move(guest_path), flags);
}

std::shared_ptr<File> make_dev_null() {
  return std::make_shared<DevFile>("/dev/null", O_RDWR, DevFile::Kind::kNull, makedev(1, 3));
}

std::shared_ptr<File> make_dev_zero() {
  return std::make_shared<DevFile>("/dev/zero", O_RDWR, DevFile::Kind::kZero, makedev(1, 5));
}

std::shared_ptr<File> open_device(const std::string& guest_path, int flags) {
  if (guest_path == "/dev/null") {
    auto f = make_dev_null();
    f->set_flags(flags);
    return f;
  }
  if (guest_path == "/dev/zero") {
    auto f = make_dev_zero();
    f->set_flags(flags);
    return f;
  }
  if (guest_path == "/dev/urandom" || guest_path == "/dev/random") {
    bool u = guest_path == "/dev/urandom";
    return std::make_shared<DevFile>(guest_path, flags, DevFile::Kind::kRandom,
                                     makedev(1, u ? 9 : 8));
  }
  return nullptr;
}

}  // namespace kernel::fs
