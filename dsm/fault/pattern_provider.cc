#include "dsm/fault/pattern_provider.h"

#include <cstring>

#include "base/bytes.h"

namespace dsm {

PatternProvider::PatternProvider(std::chrono::microseconds delay)
    : delay_(delay), timer_([this] { timer_loop(); }) {}

PatternProvider::~PatternProvider() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  timer_.join();
}

std::vector<std::byte> PatternProvider::pattern(uint64_t frame) {
  std::vector<std::byte> page(base::kPageSize);
  for (uint64_t i = 0; i < base::kPageSize / 8; ++i) {
    uint64_t w = pattern_word(frame, i);
    std::memcpy(page.data() + i * 8, &w, 8);
  }
  return page;
}

void PatternProvider::fetch(const FetchRequest& request, FetchDone done) {
  std::chrono::microseconds delay;
  {
    std::lock_guard lock(mu_);
    ++fetches_;
    ++per_frame_[request.frame];
    if (request.have_copy) ++upgrades_;
    if (request.read_ahead) ++read_aheads_;
    delay = delay_;
    if (delay.count() > 0) {
      queue_.emplace(std::chrono::steady_clock::now() + delay,
                     std::make_pair(request, std::move(done)));
    }
  }
  if (delay.count() > 0) {
    cv_.notify_all();
    return;
  }
  answer(request, done);
}

void PatternProvider::answer(const FetchRequest& request, const FetchDone& done) {
  std::vector<std::byte> page;
  bool with_data;
  {
    std::lock_guard lock(mu_);
    with_data = !request.have_copy || upgrade_with_data_;
    if (with_data) {
      auto it = stored_.find(request.frame);
      page = it != stored_.end() ? it->second : pattern(request.frame);
    }
  }
  Supply supply;
  supply.page = with_data ? page.data() : nullptr;
  supply.writable = request.access == Access::kWrite;
  done(supply);
}

void PatternProvider::timer_loop() {
  std::unique_lock lock(mu_);
  while (!stop_ || !queue_.empty()) {
    if (queue_.empty()) {
      cv_.wait(lock);
      continue;
    }
    auto first = queue_.begin();
    if (!stop_ && cv_.wait_until(lock, first->first) != std::cv_status::timeout) continue;
    auto item = std::move(queue_.begin()->second);
    queue_.erase(queue_.begin());
    lock.unlock();
    answer(item.first, item.second);
    lock.lock();
  }
}

void PatternProvider::evict(uint64_t frame, const std::byte* dirty, EvictDone done) {
  {
    std::lock_guard lock(mu_);
    ++evictions_;
    if (dirty != nullptr) {
      ++write_backs_;
      stored_[frame].assign(dirty, dirty + base::kPageSize);
    }
  }
  done(base::ok_status());
}

void PatternProvider::set_delay(std::chrono::microseconds delay) {
  std::lock_guard lock(mu_);
  delay_ = delay;
}
void PatternProvider::set_upgrade_with_data(bool on) {
  std::lock_guard lock(mu_);
  upgrade_with_data_ = on;
}

uint64_t PatternProvider::fetches() const {
  std::lock_guard lock(mu_);
  return fetches_;
}
uint64_t PatternProvider::fetches_of(uint64_t frame) const {
  std::lock_guard lock(mu_);
  auto it = per_frame_.find(frame);
  return it == per_frame_.end() ? 0 : it->second;
}
uint64_t PatternProvider::upgrades() const {
  std::lock_guard lock(mu_);
  return upgrades_;
}
uint64_t PatternProvider::read_aheads() const {
  std::lock_guard lock(mu_);
  return read_aheads_;
}
uint64_t PatternProvider::evictions() const {
  std::lock_guard lock(mu_);
  return evictions_;
}
uint64_t PatternProvider::write_backs() const {
  std::lock_guard lock(mu_);
  return write_backs_;
}
std::vector<std::byte> PatternProvider::stored(uint64_t frame) const {
  std::lock_guard lock(mu_);
  auto it = stored_.find(frame);
  return it != stored_.end() ? it->second : pattern(frame);
}

}  // namespace dsm
