#pragma once
// FrameAllocator: hands out frame numbers of the FrameStore, with a reference
// count per frame (a MAP_SHARED page survives fork as one frame with two
// users; a private page after fork is one copy-on-write frame with two).
// Frames given back are reused first, lowest first: their host pages exist
// already (a fresh shmem page costs the host ~2.8 us to fault in on this VM,
// clearing a reused one through the kernel's mapping ~0.1 us), and an address
// space can map them populated. Then fresh frames, in ascending order, so
// memory touched in order lands in contiguous frames and maps with few host
// mmaps; a fresh frame has never been written, so it reads as zeros and
// needs no clearing.
//
// It also carries the kernel-wide table of shared file objects
// (shared_object.h), since it is the one object every MemoryManager shares.
//
// Threads: the kernel thread only (not locked).

#include <cstdint>
#include <memory>
#include <set>
#include <vector>

#include "base/result.h"

namespace kernel::mm {

class SharedFileTable;

class FrameAllocator {
 public:
  explicit FrameAllocator(uint64_t frame_count);
  ~FrameAllocator();

  // A frame with one reference, or ENOMEM. `*zeroed` (when given) tells
  // whether the frame is known to hold zeros (never used before).
  base::Result<uint64_t> allocate(bool* zeroed = nullptr);
  void ref(uint64_t frame) { ++refs_[frame]; }
  // Drops a reference; the frame is free again at zero.
  void unref(uint64_t frame);
  uint32_t refs(uint64_t frame) const { return refs_[frame]; }

  uint64_t frame_count() const { return refs_.size(); }
  uint64_t used() const { return used_; }

  SharedFileTable& shared_files();
  // The table if one was ever made (null: no file was ever mapped shared).
  SharedFileTable* shared_files_if_made() { return files_.get(); }

 private:
  std::vector<uint32_t> refs_;
  // Frames given back, reused lowest first before any fresh frame, so pages
  // allocated in order still get runs of consecutive frames (one host mmap
  // per run) whatever order they were freed in.
  std::set<uint64_t> free_;
  uint64_t next_fresh_ = 0;
  uint64_t used_ = 0;
  std::unique_ptr<SharedFileTable> files_;
};

}  // namespace kernel::mm
