#pragma once
// A test PageProvider: frame f first reads as a known pattern (pattern(f)),
// written-back pages are kept and returned by later fetches (a stand-in for
// the home node), answers can be delayed, and every call is counted.
//
// Threads: fetch()/evict() from any thread. With a delay, answers come from
// one timer thread in deadline order; without, inline. Lock: mu_ only.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/thread_annotations.h"
#include "dsm/fault/page_provider.h"

namespace dsm {

class PatternProvider final : public PageProvider {
 public:
  explicit PatternProvider(std::chrono::microseconds delay = {});
  ~PatternProvider() override;

  // The 8-byte word at index i of frame f's initial contents.
  static uint64_t pattern_word(uint64_t frame, uint64_t i) {
    return (frame + 1) * 0x9E3779B97F4A7C15ull ^ i;
  }
  static std::vector<std::byte> pattern(uint64_t frame);

  void fetch(const FetchRequest& request, FetchDone done) override;
  void evict(uint64_t frame, const std::byte* dirty, EvictDone done) override;

  void set_delay(std::chrono::microseconds delay);
  // Upgrades answered with data instead of "keep local" (as a protocol does
  // when the local copy may be stale).
  void set_upgrade_with_data(bool on);

  uint64_t fetches() const;
  uint64_t fetches_of(uint64_t frame) const;
  uint64_t upgrades() const;  // fetches with have_copy
  uint64_t read_aheads() const;
  uint64_t evictions() const;
  uint64_t write_backs() const;
  // The page as the "home" holds it: written back, else the pattern.
  std::vector<std::byte> stored(uint64_t frame) const;

 private:
  void answer(const FetchRequest& request, const FetchDone& done);
  void timer_loop();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::chrono::microseconds delay_ GUARDED_BY(mu_);
  bool upgrade_with_data_ GUARDED_BY(mu_) = false;
  bool stop_ GUARDED_BY(mu_) = false;
  std::multimap<std::chrono::steady_clock::time_point, std::pair<FetchRequest, FetchDone>> queue_
      GUARDED_BY(mu_);
  std::unordered_map<uint64_t, std::vector<std::byte>> stored_ GUARDED_BY(mu_);
  std::unordered_map<uint64_t, uint64_t> per_frame_ GUARDED_BY(mu_);
  uint64_t fetches_ GUARDED_BY(mu_) = 0;
  uint64_t upgrades_ GUARDED_BY(mu_) = 0;
  uint64_t read_aheads_ GUARDED_BY(mu_) = 0;
  uint64_t evictions_ GUARDED_BY(mu_) = 0;
  uint64_t write_backs_ GUARDED_BY(mu_) = 0;
  std::thread timer_;
};

}  // namespace dsm
