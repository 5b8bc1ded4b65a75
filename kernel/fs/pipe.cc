#include "kernel/fs/pipe.h"

#include <fcntl.h>
#include <poll.h>

#include <deque>

#include "kernel/fs/wait_queue.h"

namespace kernel::fs {
namespace {

struct PipeBuffer {
  std::deque<char> data;
  int readers = 0;
  int writers = 0;
  WaitQueue readable;  // readers wait here
  WaitQueue writable;  // writers wait here
};

struct stat pipe_stat() {
  struct stat st = {};
  st.st_mode = S_IFIFO | 0600;
  st.st_nlink = 1;
  st.st_blksize = 4096;
  return st;
}

class PipeReader : public File {
 public:
  PipeReader(std::shared_ptr<PipeBuffer> b, int flags)
      : File("", O_RDONLY | flags), b_(std::move(b)) {
    ++b_->readers;
  }
  ~PipeReader() override {
    --b_->readers;
    b_->writable.notify_all();
  }
  Result<uint64_t> read(mm::MemoryManager& mm, uint64_t buf, uint64_t len) override {
    if (len == 0) return 0;
    if (b_->data.empty()) {
      if (b_->writers == 0) return 0;
      return Errno(EAGAIN);
    }
    size_t n = std::min<size_t>(len, b_->data.size());
    std::vector<char> tmp(b_->data.begin(), b_->data.begin() + n);
    TRY(mm.copy_out(buf, tmp.data(), n));
    b_->data.erase(b_->data.begin(), b_->data.begin() + n);
    b_->writable.notify_all();
    return n;
  }
  Result<uint64_t> write(mm::MemoryManager&, uint64_t, uint64_t) override { return Errno(EBADF); }
  Result<struct stat> stat() override { return pipe_stat(); }
  WaitQueue* wait_queue(bool for_write) override { return for_write ? nullptr : &b_->readable; }
  short poll_events(short events) override {
    short r = 0;
    if (!b_->data.empty()) r |= events & (POLLIN | POLLRDNORM);
    if (b_->writers == 0) r |= POLLHUP;
    return r;
  }
  Result<uint64_t> ioctl(mm::MemoryManager& mm, uint64_t cmd, uint64_t arg) override {
    if (cmd != 0x541B /* FIONREAD */) return Errno(ENOTTY);
    int n = static_cast<int>(b_->data.size());
    TRY(mm.copy_out(arg, &n, sizeof(n)));
    return 0;
  }

 private:
  std::shared_ptr<PipeBuffer> b_;
};

class PipeWriter : public File {
 public:
  PipeWriter(std::shared_ptr<PipeBuffer> b, int flags)
      : File("", O_WRONLY | flags), b_(std::move(b)) {
    ++b_->writers;
  }
  ~PipeWriter() override {
    --b_->writers;
    b_->readable.notify_all();
  }
  Result<uint64_t> read(mm::MemoryManager&, uint64_t, uint64_t) override { return Errno(EBADF); }
  Result<uint64_t> write(mm::MemoryManager& mm, uint64_t buf, uint64_t len) override {
    if (b_->readers == 0) return Errno(EPIPE);
    if (len == 0) return 0;
    size_t space = kPipeSize - b_->data.size();
    // Writes of at most PIPE_BUF bytes are atomic: all or wait.
    if (space == 0 || (len <= 4096 && space < len)) return Errno(EAGAIN);
    size_t n = std::min<size_t>(len, space);
    std::vector<char> tmp(n);
    TRY(mm.copy_in(buf, tmp.data(), n));
    b_->data.insert(b_->data.end(), tmp.begin(), tmp.end());
    b_->readable.notify_all();
    return n;
  }
  Result<struct stat> stat() override { return pipe_stat(); }
  WaitQueue* wait_queue(bool for_write) override { return for_write ? &b_->writable : nullptr; }
  short poll_events(short events) override {
    // As Linux: writable while not full, and POLLERR with no reader left.
    short r = b_->data.size() < kPipeSize ? (events & (POLLOUT | POLLWRNORM)) : 0;
    if (b_->readers == 0) r |= POLLERR;
    return r;
  }

 private:
  std::shared_ptr<PipeBuffer> b_;
};

}  // namespace

std::pair<std::shared_ptr<File>, std::shared_ptr<File>> make_pipe(int flags) {
  auto b = std::make_shared<PipeBuffer>();
  return {std::make_shared<PipeReader>(b, flags), std::make_shared<PipeWriter>(b, flags)};
}

}  // namespace kernel::fs
