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
// writable mapping (exit, exec) and when the object dies. Between those, the
// guest's read(2) and write(2) of the file stay coherent with its mappings,
// as Linux's unified page cache keeps them: a read of a range first writes
// back the object's loaded pages there (write_back), and a write is copied
// into the loaded pages it covers (reload). Host processes outside the guest
// writing the file are not followed.
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
  // The guest wrote the file's bytes [off, off+len): the loaded pages of
  // that range take them from the file.
  base::Result<void> reload(uint64_t off, uint64_t len);
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
  // The live object of the host file (dev, ino), or null.
  std::shared_ptr<SharedObject> find(uint64_t dev, uint64_t ino) const;

 private:
  friend class SharedObject;
  std::map<std::pair<uint64_t, uint64_t>, std::weak_ptr<SharedObject>> objects_;
};

}  // namespace kernel::mm
