#include "kernel/mm/frame_allocator.h"

namespace kernel::mm {

base::Result<uint64_t> FrameAllocator::allocate() {
  uint64_t f;
  if (next_fresh_ < refs_.size()) {
    f = next_fresh_++;
  } else if (!free_.empty()) {
    f = free_.back();
    free_.pop_back();
  } else {
    return base::Errno(ENOMEM);
  }
  refs_[f] = 1;
  ++used_;
  return f;
}

void FrameAllocator::unref(uint64_t frame) {
  if (refs_[frame] == 0) return;
  if (--refs_[frame] == 0) {
    free_.push_back(frame);
    --used_;
  }
}

}  // namespace kernel::mm
