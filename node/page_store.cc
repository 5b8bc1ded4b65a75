#include "node/page_store.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <fmt/format.h>

namespace node {

base::StatusOr<std::unique_ptr<PageStore>> PageStore::Create(uint64_t bytes,
                                                             const std::string& name) {
  if (bytes == 0 || bytes % kPage != 0) {
    return base::Error(fmt::format("page store size {} is not a positive multiple of 4 KiB", bytes),
                       EINVAL);
  }
  base::UniqueFd fd(memfd_create(("pangaea-store-" + name).c_str(), MFD_CLOEXEC));
  if (!fd.valid()) return base::Error::from_errno("memfd_create");
  if (ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0)
    return base::Error::from_errno("ftruncate page store");
  // MAP_NORESERVE: the store may be larger than free memory; it is filled lazily.
  void* base =
      mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd.get(), 0);
  if (base == MAP_FAILED) return base::Error::from_errno("mmap page store");
  return std::unique_ptr<PageStore>(
      new PageStore(std::move(fd), bytes, static_cast<std::byte*>(base)));
}

PageStore::~PageStore() { munmap(base_, size_); }

uint64_t PageStore::used() const {
  std::lock_guard lock(mu_);
  return allocated_ * kPage;
}

base::StatusOr<uint64_t> PageStore::allocate() {
  std::lock_guard lock(mu_);
  uint64_t index;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else if (next_fresh_ < page_count()) {
    index = next_fresh_++;
  } else {
    return base::Error(fmt::format("page store full ({} pages)", page_count()), ENOMEM);
  }
  ++allocated_;
  return index;
}

void PageStore::release(uint64_t index) {
  // Punch the page out so a released page costs the host nothing and a
  // reused one starts zeroed, as a fresh one does.
  fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
            static_cast<off_t>(index * kPage), kPage);
  std::lock_guard lock(mu_);
  free_.push_back(index);
  --allocated_;
}

std::span<std::byte> PageStore::page(uint64_t index) const {
  return {base_ + index * kPage, kPage};
}

base::StatusOr<uint64_t> PageStore::add_home_span(uint64_t bytes) {
  if (home_span_ != 0) return base::Error("page store: home span already added", EBUSY);
  if (bytes == 0 || bytes % kPage != 0) {
    return base::Error(fmt::format("home span {} is not a positive multiple of 4 KiB", bytes),
                       EINVAL);
  }
  if (ftruncate(fd_.get(), static_cast<off_t>(size_ + bytes)) != 0)
    return base::Error::from_errno("ftruncate page store (home span)");
  home_span_ = bytes;
  return size_;
}

uint64_t PageStore::resident_bytes() const {
  struct stat st;
  if (fstat(fd_.get(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

}  // namespace node
