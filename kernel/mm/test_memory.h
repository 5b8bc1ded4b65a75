#pragma once
// For unit tests: a LocalFrameStore, an allocator and the kernel's mapping
// of the frames, with a MemoryManager that mirrors into no address space.

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <memory>

#include "dsm/local/local_frame_store.h"
#include "kernel/mm/memory_manager.h"

namespace kernel::mm {

class TestMemory {
 public:
  explicit TestMemory(uint64_t frames = 1024) : alloc_(frames) {
    auto s = dsm::LocalFrameStore::Create(frames);
    EXPECT_TRUE(s.ok());
    store_ = std::move(*s);
    base_ = static_cast<uint8_t*>(
        ::mmap(nullptr, frames * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, store_->memfd(), 0));
    EXPECT_NE(base_, MAP_FAILED);
    bytes_ = frames * 4096;
  }
  ~TestMemory() { ::munmap(base_, bytes_); }
  std::unique_ptr<MemoryManager> new_mm() {
    return std::make_unique<MemoryManager>(*store_, alloc_, base_, nullptr);
  }
  FrameAllocator& alloc() { return alloc_; }
  uint8_t* frames() { return base_; }

 private:
  std::unique_ptr<dsm::LocalFrameStore> store_;
  FrameAllocator alloc_;
  uint8_t* base_ = nullptr;
  uint64_t bytes_ = 0;
};

}  // namespace kernel::mm
