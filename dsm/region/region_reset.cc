// Driver::reset (Region::reset): the region's contents are void, e.g. the
// guest's primary restarted, so a new guest starts on long-running nodes
// (docs/spread.md "A second boot"). Kept apart from the message path in
// region_driver.cc: nothing here runs per message.

#include <sys/mman.h>

#include <spdlog/spdlog.h>

#include "base/bytes.h"
#include "dsm/region/region_driver.h"

namespace dsm {

void Driver::reset(std::unique_ptr<protocol::Protocol> fresh) {
  std::lock_guard lock(mu_);
  if (closed_) return;
  // Evictions waiting for a write-back ack end as acked (the engine punches
  // the page: nothing of it is to be kept); fetches fail, so the faults
  // waiting on them end. Both callbacks take engine locks only (mu_ before
  // the engine's, as drop() and fail() do).
  std::unordered_map<uint64_t, EvictDone> evicts;
  std::unordered_map<uint64_t, Fetch> fetches;
  evicts.swap(evicts_);
  fetches.swap(fetches_);
  for (auto& o : outstanding_) o.clear();
  parked_.clear();
  // Armed timers may fire: the new protocol has nothing outstanding for
  // them, and a backoff left over ends at the frame's next answer.
  earlier_stats_ += protocol_->stats();
  protocol_ = std::move(fresh);
  for (auto& [frame, done] : evicts) done({});
  for (auto& [frame, f] : fetches) f.done(base::Error("region reset: a new guest", ECANCELED));
  uint64_t errors = 0;
  for (uint64_t frame = 0; frame < config_.frames; ++frame) {
    if (!engine_->invalidate(frame).ok()) ++errors;
  }
  // The home copies read as zeros again, and give their memory back.
  if (::madvise(home_, config_.frames * base::kPageSize, MADV_REMOVE) != 0) ++errors;
  if (errors != 0) {
    AtomicDriverCounters::bump(counters_.install_errors);
    spdlog::warn("region reset: {} frames could not be dropped", errors);
  }
}

}  // namespace dsm
