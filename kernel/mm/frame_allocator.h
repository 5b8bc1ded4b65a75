#pragma once
// FrameAllocator: hands out frame numbers of the FrameStore, with a reference
// count per frame (a MAP_SHARED page survives fork as one frame with two
// users). Fresh frames come in ascending order, so memory touched in order
// lands in contiguous frames and maps with few host mmaps.
//
// Threads: the kernel thread only (not locked).

#include <cstdint>
#include <vector>

#include "base/result.h"

namespace kernel::mm {

class FrameAllocator {
 public:
  explicit FrameAllocator(uint64_t frame_count) : refs_(frame_count, 0) {}

  // A frame with one reference, or ENOMEM.
  base::Result<uint64_t> allocate();
  void ref(uint64_t frame) { ++refs_[frame]; }
  // Drops a reference; the frame is free again at zero.
  void unref(uint64_t frame);

  uint64_t frame_count() const { return refs_.size(); }
  uint64_t used() const { return used_; }

 private:
  std::vector<uint32_t> refs_;
  std::vector<uint64_t> free_;  // frames given back, reused first
  uint64_t next_fresh_ = 0;
  uint64_t used_ = 0;
};

}  // namespace kernel::mm
