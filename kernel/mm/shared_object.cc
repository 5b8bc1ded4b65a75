#include "kernel/mm/shared_object.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "base/bytes.h"

namespace kernel::mm {
namespace {

using base::kPageSize;

bool fd_writable(int fd) {
  int fl = ::fcntl(fd, F_GETFL);
  return fl >= 0 && (fl & O_ACCMODE) == O_RDWR;
}

}  // namespace

SharedObject::SharedObject(FrameAllocator& alloc, dsm::FrameStore& store, uint8_t* frames,
                           std::shared_ptr<base::UniqueFd> file)
    : alloc_(alloc), store_(store), frames_(frames), file_(std::move(file)) {
  if (file_) file_writable_ = fd_writable(file_->get());
}

SharedObject::~SharedObject() {
  if (file_) (void)write_back(0, ~0ull);
  for (auto& [pgoff, frame] : pages_) alloc_.unref(frame);
  if (table_) {
    auto it = table_->objects_.find(key_);
    if (it != table_->objects_.end() && it->second.expired()) table_->objects_.erase(it);
  }
}

base::Result<uint64_t> SharedObject::frame_at(uint64_t pgoff) {
  auto it = pages_.find(pgoff);
  if (it != pages_.end()) return it->second;
  bool zeroed = false;
  uint64_t frame = TRY(alloc_.allocate(&zeroed));
  if (!store_.make_present(frame, 1, dsm::Access::kWrite).ok()) {
    alloc_.unref(frame);
    return base::Errno(EFAULT);
  }
  uint8_t* page = frames_ + frame * kPageSize;
  if (!zeroed) std::memset(page, 0, kPageSize);
  if (file_) {
    // Past the end of the file the page stays zero, as Linux's.
    for (uint64_t done = 0; done < kPageSize;) {
      ssize_t n = ::pread(file_->get(), page + done, kPageSize - done, pgoff * kPageSize + done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += n;
    }
  }
  pages_.emplace(pgoff, frame);
  return frame;
}

base::Result<void> SharedObject::write_back(uint64_t lo, uint64_t hi) {
  if (!file_ || !file_writable_) return {};
  struct stat st;
  if (::fstat(file_->get(), &st) < 0) return base::Errno::last();
  uint64_t size = static_cast<uint64_t>(st.st_size);
  for (auto it = pages_.lower_bound(lo); it != pages_.end() && it->first < hi; ++it) {
    uint64_t at = it->first * kPageSize;
    if (at >= size) break;
    uint64_t n = std::min<uint64_t>(kPageSize, size - at);
    if (!store_.make_present(it->second, 1, dsm::Access::kRead).ok()) return base::Errno(EIO);
    const uint8_t* page = frames_ + it->second * kPageSize;
    for (uint64_t done = 0; done < n;) {
      ssize_t w = ::pwrite(file_->get(), page + done, n - done, at + done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return base::Errno(w < 0 ? errno : EIO);
      done += w;
    }
  }
  return {};
}

base::Result<void> SharedObject::reload(uint64_t off, uint64_t len) {
  if (!file_ || len == 0) return {};
  const uint64_t end = off + len;
  for (auto it = pages_.lower_bound(off / kPageSize);
       it != pages_.end() && it->first * kPageSize < end; ++it) {
    const uint64_t at = it->first * kPageSize;
    const uint64_t lo = std::max(off, at), hi = std::min(end, at + kPageSize);
    if (!store_.make_present(it->second, 1, dsm::Access::kWrite).ok()) return base::Errno(EIO);
    uint8_t* page = frames_ + it->second * kPageSize;
    for (uint64_t done = lo; done < hi;) {
      ssize_t n = ::pread(file_->get(), page + (done - at), hi - done, done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return base::Errno(n < 0 ? errno : EIO);
      done += n;
    }
  }
  return {};
}

std::shared_ptr<SharedObject> SharedFileTable::find(uint64_t dev, uint64_t ino) const {
  auto it = objects_.find({dev, ino});
  return it == objects_.end() ? nullptr : it->second.lock();
}

base::Result<std::shared_ptr<SharedObject>> SharedFileTable::get(
    FrameAllocator& alloc, dsm::FrameStore& store, uint8_t* frames,
    std::shared_ptr<base::UniqueFd> file) {
  struct stat st;
  if (::fstat(file->get(), &st) < 0) return base::Errno::last();
  std::pair<uint64_t, uint64_t> key{st.st_dev, st.st_ino};
  auto it = objects_.find(key);
  if (it != objects_.end()) {
    if (auto obj = it->second.lock()) {
      if (!obj->file_writable_ && fd_writable(file->get())) {
        obj->file_ = std::move(file);
        obj->file_writable_ = true;
      }
      return obj;
    }
  }
  auto obj = std::make_shared<SharedObject>(alloc, store, frames, std::move(file));
  obj->table_ = this;
  obj->key_ = key;
  objects_[key] = obj;
  return obj;
}

}  // namespace kernel::mm
