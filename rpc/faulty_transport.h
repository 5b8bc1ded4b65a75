#pragma once
// Fault injection for tests: decides, per frame, whether a link drops,
// delays, reorders or duplicates it. Seeded, so a failing test replays the
// same faults. LoopbackNetwork applies it to every frame it carries, below
// the authentication and request/retry logic, so that logic is what the
// faults exercise (as a lossy network would).
//
// Threads: plan() is not thread-safe; LoopbackNetwork calls it under its lock.

#include <chrono>
#include <cstdint>
#include <random>
#include <vector>

namespace rpc {

struct FaultOptions {
  uint64_t seed = 1;
  double drop = 0;                         // probability a frame is lost
  double duplicate = 0;                    // probability a frame is delivered twice
  double reorder = 0;                      // probability a frame is held back by reorder_delay
  std::chrono::microseconds delay_min{0};  // every frame waits uniformly in
  std::chrono::microseconds delay_max{0};  // [delay_min, delay_max]
  std::chrono::microseconds reorder_delay{3000};

  bool any() const { return drop > 0 || duplicate > 0 || reorder > 0 || delay_max.count() > 0; }
};

class FaultInjector {
 public:
  explicit FaultInjector(FaultOptions options) : options_(options), rng_(options.seed) {}

  // How long after now each copy of a frame is delivered: none if it is
  // dropped, two if it is duplicated. Later frames can overtake one that is
  // held back, which is how reordering happens.
  std::vector<std::chrono::microseconds> plan();

  const FaultOptions& options() const { return options_; }

 private:
  bool chance(double p) { return p > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  std::chrono::microseconds delay();

  FaultOptions options_;
  std::mt19937_64 rng_;
};

}  // namespace rpc
