#include "kernel/mm/frame_allocator.h"

#include "kernel/mm/shared_object.h"

namespace kernel::mm {

FrameAllocator::FrameAllocator(uint64_t frame_count) : refs_(frame_count, 0) {}

FrameAllocator::~FrameAllocator() = default;

base::Result<uint64_t> FrameAllocator::allocate(bool* zeroed) {
  uint64_t f;
  bool fresh = false;
  if (!free_.empty()) {
    f = *free_.begin();
    free_.erase(free_.begin());
  } else if (next_fresh_ < refs_.size()) {
    f = next_fresh_++;
    fresh = true;
  } else {
    return base::Errno(ENOMEM);
  }
  refs_[f] = 1;
  ++used_;
  if (zeroed) *zeroed = fresh;
  return f;
}

void FrameAllocator::unref(uint64_t frame) {
  if (refs_[frame] == 0) return;
  if (--refs_[frame] == 0) {
    free_.insert(frame);
    --used_;
  }
}

SharedFileTable& FrameAllocator::shared_files() {
  if (!files_) files_ = std::make_unique<SharedFileTable>();
  return *files_;
}

}  // namespace kernel::mm
