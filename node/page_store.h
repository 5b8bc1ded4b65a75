#pragma once
// The memory a node contributes to the cluster: one memfd of the configured
// size, mapped once, handed out in 4 KiB pages. The memfd is sparse, so host
// memory is only consumed by pages that were written; a released page is
// punched out of the file and its memory goes back to the host.
//
// Threads: every method may be called from any thread; one mutex guards the
// allocation state. The page contents are not guarded (the DSM owns them).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/thread_annotations.h"
#include "base/unique_fd.h"

namespace node {

class PageStore {
 public:
  // `bytes` must be a positive multiple of the page size.
  static base::StatusOr<std::unique_ptr<PageStore>> Create(uint64_t bytes, const std::string& name);
  ~PageStore();
  PageStore(const PageStore&) = delete;
  PageStore& operator=(const PageStore&) = delete;

  int fd() const { return fd_.get(); }     // the memfd, for mapping elsewhere
  uint64_t size() const { return size_; }  // bytes given to the cluster
  uint64_t page_count() const { return size_ / kPage; }
  uint64_t used() const;  // bytes in allocated pages

  // A free page's index, or ENOMEM when the store is full.
  base::StatusOr<uint64_t> allocate();
  // Returns a page to the store and its memory to the host. REQUIRES: allocated.
  void release(uint64_t index);
  // The page's bytes in this process's mapping. REQUIRES: index < page_count().
  std::span<std::byte> page(uint64_t index) const;

  // Grows the memfd by `bytes` (sparse) beyond the pages handed out by
  // allocate(), for the guest region's home copies (dsm::RegionConfig
  // home_fd/home_offset), and returns the offset of that span. The span is
  // indexed by frame over the whole region, so it is as large as the guest's
  // RAM; only the frames homed here and written ever take memory, about what
  // the node gives under weighted interleaving. Call once, before sharing.
  base::StatusOr<uint64_t> add_home_span(uint64_t bytes);
  // Host memory the memfd holds now (allocated pages that were written and
  // home copies), from the file's block count.
  uint64_t resident_bytes() const;

 private:
  static constexpr uint64_t kPage = 4096;
  PageStore(base::UniqueFd fd, uint64_t size, std::byte* base)
      : fd_(std::move(fd)), size_(size), base_(base) {}

  base::UniqueFd fd_;
  const uint64_t size_;
  std::byte* const base_;
  uint64_t home_span_ = 0;  // bytes added by add_home_span()

  mutable std::mutex mu_;
  uint64_t next_fresh_ GUARDED_BY(mu_) = 0;     // pages below were handed out at least once
  std::vector<uint64_t> free_ GUARDED_BY(mu_);  // released pages, reused first
  uint64_t allocated_ GUARDED_BY(mu_) = 0;
};

}  // namespace node
