#pragma once
// Adaptive read-ahead: detects runs of consecutive read misses and says which
// frames to fetch ahead, with a window that doubles while the run goes on.
//
// Pages fetched ahead are installed, so a sequential reader does not fault on
// them at all; the detector infers use from where the run's next miss lands:
// a miss at m continuing a run that expected `next` counts the frames in
// [next, m) as read-ahead hits (the reader went through them without
// faulting). A fault that joins a read-ahead still in flight is a hit the
// engine counts itself.
//
// Pure logic, no I/O. Threads: callers serialise (the engine holds mu_).

#include <array>
#include <cstdint>

namespace dsm {

class ReadAhead {
 public:
  struct Decision {
    uint64_t first = 0;  // fetch frames [first, first+count) ahead
    uint64_t count = 0;
    uint64_t hits = 0;  // frames the run consumed without faulting
  };

  // max_window 0 disables read-ahead.
  explicit ReadAhead(uint32_t max_window, uint32_t initial_window = 4)
      : max_window_(max_window), initial_window_(initial_window) {}

  // A demand read miss at `frame` (frames are in [0, limit)). With
  // can_fetch false (no room) the run is followed but nothing is proposed,
  // so frames not fetched ahead are never counted as hits.
  Decision on_miss(uint64_t frame, uint64_t limit, bool can_fetch = true);

 private:
  struct Stream {
    uint64_t next = 0;    // the frame a sequential reader faults on next if no read-ahead
    uint64_t ra_end = 0;  // read-ahead issued up to here (exclusive)
    uint32_t window = 0;  // 0: a single miss seen, not yet a run
    uint64_t last_use = 0;
    bool live = false;
  };
  static constexpr int kStreams = 8;

  std::array<Stream, kStreams> streams_{};
  uint64_t clock_ = 0;
  uint32_t max_window_;
  uint32_t initial_window_;
};

}  // namespace dsm
