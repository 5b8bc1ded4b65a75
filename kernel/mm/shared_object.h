#pragma once
// SharedObject: the frames behind MAP_SHARED mappings, one object per shared
// memory object -- what Linux keeps in a shmem inode or a file's page cache.
// Every VMA that maps the object (in any process: inherited over fork, or an
// independent mmap of the same file) finds its pages here, so all of them
// use one frame per page and see each other's writes at once.
//
// A file object fills a page from the file on first use and writes pages
// back (only the bytes below the file's current size, as Linux does) on
// msync, on munmap of a writable mapping, when a process drops its last
// writable mapping (exit, exec) and when the object dies. Partial: a write(2)
// to the file after a page was loaded is not seen through the mapping, and a
// store through the mapping reaches read(2) only after one of those
// write-backs (Linux's unified page cache makes both immediate).
//
// Frame references: the object holds one reference on each of its frames;
// every page-table entry mapping one holds another.
//
// SharedFileTable finds the object of a host file (dev, inode), so two
// independent mmaps of one file share it; it holds the objects weakly.
//
// Threads: the kernel thread only.

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <utility>

#include "base/result.h"
#include "base/unique_fd.h"
#include "dsm/frame_store.h"
#include "kernel/mm/frame_allocator.h"

namespace kernel::mm {

class SharedFileTable;

class SharedObject {
 public:
  // `file` null: anonymous shared memory (pages start zero). `frames` is the
  // kernel's mapping of store.memfd().
  SharedObject(FrameAllocator& alloc, dsm::FrameStore& store, uint8_t* frames,
               std::shared_ptr<base::UniqueFd> file);
  ~SharedObject();
  SharedObject(const SharedObject&) = delete;
  SharedObject& operator=(const SharedObject&) = delete;

  // The frame of page `pgoff`, made (and filled from the file) on first use.
  // The caller takes its own reference if it keeps the frame.
  base::Result<uint64_t> frame_at(uint64_t pgoff);
  // Writes the object's pages in [lo, hi) back to the file; nothing for
  // anonymous memory.
  base::Result<void> write_back(uint64_t lo, uint64_t hi);
  bool is_file() const { return file_ != nullptr; }
  uint64_t page_count() const { return pages_.size(); }

 private:
  friend class SharedFileTable;
  FrameAllocator& alloc_;
  dsm::FrameStore& store_;
  uint8_t* frames_;
  std::shared_ptr<base::UniqueFd> file_;
  bool file_writable_ = false;
  SharedFileTable* table_ = nullptr;  // for file objects: forget on death
  std::pair<uint64_t, uint64_t> key_{};
  std::map<uint64_t, uint64_t> pages_;  // page offset in the object -> frame
};

class SharedFileTable {
 public:
  // The object of the host file open as `file`, made on first use. A
  // writable `file` replaces a read-only one the object was made with, so
  // write-back has an fd that can write.
  base::Result<std::shared_ptr<SharedObject>> get(FrameAllocator& alloc, dsm::FrameStore& store,
                                                  uint8_t* frames,
                                                  std::shared_ptr<base::UniqueFd> file);
  size_t size() const { return objects_.size(); }

 private:
  friend class SharedObject;
  std::map<std::pair<uint64_t, uint64_t>, std::weak_ptr<SharedObject>> objects_;
};

}  // namespace kernel::mm
