#include "dsm/fault/install_sink.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "base/bytes.h"
#include "dsm/fault/uffd.h"

namespace dsm {

namespace {
constexpr uint64_t kPage = base::kPageSize;
}

base::StatusOr<std::unique_ptr<InstallSink>> InstallSink::Create(uint64_t ring_pages) {
  if (ring_pages == 0) return base::Error("install sink: no pages", EINVAL);
  std::unique_ptr<InstallSink> s(new InstallSink);
  s->pages_ = ring_pages;
  s->memfd_.reset(::memfd_create("pangaea-install-sink", MFD_CLOEXEC));
  if (!s->memfd_.valid()) return base::Error::from_errno("memfd_create");
  if (::ftruncate(s->memfd_.get(), static_cast<off_t>(ring_pages * kPage)) != 0) {
    return base::Error::from_errno("ftruncate");
  }
  void* p =
      ::mmap(nullptr, ring_pages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, s->memfd_.get(), 0);
  if (p == MAP_FAILED) return base::Error::from_errno("mmap");
  s->base_ = static_cast<std::byte*>(p);
  s->uffd_ = TRY(uffd::open(uffd::kShmemFeatures));
  TRY(uffd::register_range(s->uffd_.get(), reinterpret_cast<uint64_t>(s->base_),
                           ring_pages * kPage));
  return s;
}

InstallSink::~InstallSink() {
  if (base_ != nullptr) ::munmap(base_, pages_ * kPage);
}

base::Status InstallSink::install(std::span<const std::byte> run) {
  const uint64_t n = run.size() / kPage;
  if (n == 0 || run.size() % kPage != 0 || n > pages_) {
    return base::Error("install sink: a run must be whole pages within the ring", EINVAL);
  }
  if (at_ + n > pages_) at_ = 0;
  if (at_ < held_) {
    const uint64_t punch = std::min(n, held_ - at_);
    if (::fallocate(memfd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                    static_cast<off_t>(at_ * kPage), static_cast<off_t>(punch * kPage)) != 0) {
      return base::Error::from_errno("fallocate(PUNCH_HOLE)");
    }
    punched_ += punch;
  }
  TRY(uffd::copy(uffd_.get(), reinterpret_cast<uint64_t>(base_ + at_ * kPage), run.data(),
                 run.size(), /*write_protect=*/true));
  at_ += n;
  held_ = std::max(held_, at_);
  installed_ += n;
  return {};
}

base::Status InstallSink::fill() {
  constexpr uint64_t kChunk = 64;
  const std::vector<std::byte> zeros(kChunk * kPage);
  const uint64_t cursor = at_;
  at_ = held_;
  while (held_ < pages_) {
    const uint64_t n = std::min(kChunk, pages_ - held_);
    TRY(install({zeros.data(), n * kPage}));
  }
  at_ = cursor;
  return {};
}

}  // namespace dsm
