#include "dsm/local/local_frame_store.h"

#include <sys/mman.h>
#include <unistd.h>

#include "base/bytes.h"

namespace dsm {

base::StatusOr<std::unique_ptr<LocalFrameStore>> LocalFrameStore::Create(uint64_t frame_count) {
  if (frame_count == 0) return base::Error("frame store: zero frames", EINVAL);
  base::UniqueFd fd(::memfd_create("pangaea-frames", MFD_CLOEXEC));
  if (!fd.valid()) return base::Error::from_errno("memfd_create");
  // Sparse: pages take host memory only once touched.
  if (::ftruncate(fd.get(), static_cast<off_t>(frame_count * base::kPageSize)) < 0)
    return base::Error::from_errno("ftruncate frames memfd");
  return std::unique_ptr<LocalFrameStore>(new LocalFrameStore(std::move(fd), frame_count));
}

base::Status LocalFrameStore::make_present(uint64_t first, uint64_t count, Access) {
  if (first > frame_count_ || count > frame_count_ - first)
    return base::Error("frame range out of bounds", EFAULT);
  return {};
}

base::Status LocalFrameStore::attach(int, uint64_t, uint64_t first, uint64_t count) {
  if (first > frame_count_ || count > frame_count_ - first)
    return base::Error("frame range out of bounds", EINVAL);
  return {};
}

void LocalFrameStore::detach(int, uint64_t, uint64_t) {}

base::Status LocalFrameStore::resolve_fault(int, uint64_t, Access) {
  // Every frame is always present locally: there is never anything to fetch.
  return {};
}

}  // namespace dsm
