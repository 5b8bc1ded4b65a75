#pragma once
// A PageProvider for purely local memory: every miss is a zero page, granted
// with the access asked for, and an upgrade keeps the local copy. It has no
// backing store, so an evicted dirty frame is lost (it reads back as zeros):
// use it without a budget, or where losing evicted data is intended (benchmarks).

#include <array>

#include "dsm/fault/page_provider.h"

namespace dsm {

class ZeroFillProvider final : public PageProvider {
 public:
  void fetch(const FetchRequest& request, FetchDone done) override {
    Supply supply;
    supply.page = request.have_copy ? nullptr : zeros_.data();
    supply.writable = request.access == Access::kWrite;
    done(supply);
  }
  void evict(uint64_t, const std::byte*, EvictDone done) override { done(base::ok_status()); }

 private:
  std::array<std::byte, 4096> zeros_{};
};

}  // namespace dsm
