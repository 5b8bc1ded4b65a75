#include "kernel/fs/eventfd.h"

#include <fcntl.h>
#include <poll.h>

namespace kernel::fs {
namespace {

constexpr uint64_t kMax = ~uint64_t{0} - 1;  // the largest count

class EventFd : public File {
 public:
  EventFd(uint64_t count, int flags, bool semaphore)
      : File("anon_inode:[eventfd]", O_RDWR | flags), count_(count), semaphore_(semaphore) {}

  Result<uint64_t> read(mm::MemoryManager& mm, uint64_t buf, uint64_t len) override {
    if (len < sizeof(uint64_t)) return Errno(EINVAL);
    if (count_ == 0) return Errno(EAGAIN);
    uint64_t v = semaphore_ ? 1 : count_;
    TRY(mm.copy_out(buf, &v, sizeof(v)));
    count_ -= v;
    writable_.notify_all();
    return sizeof(uint64_t);
  }
  Result<uint64_t> write(mm::MemoryManager& mm, uint64_t buf, uint64_t len) override {
    if (len < sizeof(uint64_t)) return Errno(EINVAL);
    uint64_t v = 0;
    TRY(mm.copy_in(buf, &v, sizeof(v)));
    if (v == ~uint64_t{0}) return Errno(EINVAL);
    if (v > kMax - count_) return Errno(EAGAIN);
    count_ += v;
    if (v) readable_.notify_all();
    return sizeof(uint64_t);
  }
  Result<struct stat> stat() override { return anon_inode_stat(); }
  short poll_events(short events) override {
    short r = 0;
    if (count_ > 0) r |= POLLIN | POLLRDNORM;
    if (count_ < kMax) r |= POLLOUT | POLLWRNORM;
    return r & events;
  }
  WaitQueue* wait_queue(bool for_write) override { return for_write ? &writable_ : &readable_; }

 private:
  uint64_t count_;
  bool semaphore_;
  WaitQueue readable_;
  WaitQueue writable_;
};

}  // namespace

std::shared_ptr<File> make_eventfd(uint64_t initval, int flags, bool semaphore) {
  return std::make_shared<EventFd>(initval, flags, semaphore);
}

}  // namespace kernel::fs
