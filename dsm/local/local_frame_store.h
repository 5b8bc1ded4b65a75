#pragma once
// LocalFrameStore: the single-node frame store. All frames live in one memfd
// on this host and are always present, so make_present() only checks bounds.
// attach()/detach()/detach_all()/resolve_fault() are documented no-ops: nothing is ever
// missing, so no userfaultfd registration is needed (a uffd handed to attach
// is accepted and ignored). The distributed store (dsm/region, dsm/fault)
// implements the same interface with real fault handling.
//
// Threads: every method may be called from any thread (no mutable state).

#include <memory>

#include "base/result.h"
#include "base/unique_fd.h"
#include "dsm/frame_store.h"

namespace dsm {

class LocalFrameStore : public FrameStore {
 public:
  // A memfd of `frame_count` 4 KiB frames, all zero.
  static base::StatusOr<std::unique_ptr<LocalFrameStore>> Create(uint64_t frame_count);

  int memfd() const override { return fd_.get(); }
  uint64_t frame_count() const override { return frame_count_; }
  base::Status make_present(uint64_t first, uint64_t count, Access access) override;
  base::Status attach(int uffd, uint64_t addr, uint64_t first, uint64_t count) override;
  void detach(int uffd, uint64_t addr, uint64_t count) override;
  void detach_all(int) override {}
  base::Status resolve_fault(int uffd, uint64_t addr, Access access) override;
  // Every frame is local and writable: any in-bounds range may be prefaulted.
  bool host_prefault_ok(uint64_t first, uint64_t count) const override {
    return first <= frame_count_ && count <= frame_count_ - first;
  }

 private:
  LocalFrameStore(base::UniqueFd fd, uint64_t frame_count)
      : fd_(std::move(fd)), frame_count_(frame_count) {}
  base::UniqueFd fd_;
  uint64_t frame_count_;
};

}  // namespace dsm
