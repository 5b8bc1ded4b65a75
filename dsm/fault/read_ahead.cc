#include "dsm/fault/read_ahead.h"

#include <algorithm>

namespace dsm {

ReadAhead::Decision ReadAhead::on_miss(uint64_t frame, uint64_t limit, bool can_fetch) {
  Decision d;
  if (max_window_ == 0) return d;
  ++clock_;
  Stream* run = nullptr;
  for (Stream& s : streams_) {
    if (s.live && frame >= s.next && frame <= std::max(s.next, s.ra_end)) {
      run = &s;
      break;
    }
  }
  if (run == nullptr) {
    // A new candidate stream replaces the least recently used one.
    Stream* victim = &streams_[0];
    for (Stream& s : streams_) {
      if (!s.live) {
        victim = &s;
        break;
      }
      if (s.last_use < victim->last_use) victim = &s;
    }
    *victim = Stream{frame + 1, frame + 1, 0, clock_, true};
    return d;
  }
  d.hits = frame - run->next;
  run->window = run->window == 0 ? initial_window_ : std::min(run->window * 2, max_window_);
  run->last_use = clock_;
  run->next = frame + 1;
  if (!can_fetch) {
    run->ra_end = run->next;
    return d;
  }
  // A frame before ra_end was fetched ahead: the reader reached a window's
  // trigger page, and the next window goes a whole window past what is in
  // flight, so one to two windows stay ahead of the reader. (Counting from
  // the reader instead gave a window of one page, then a window starting
  // one page ahead of the reader, which then waited for all of it.)
  uint64_t from = std::max(run->ra_end, frame + 1);
  uint64_t to = std::min(limit, (frame < run->ra_end ? run->ra_end : frame + 1) + run->window);
  if (to > from) {
    d.first = from;
    d.count = to - from;
    run->ra_end = to;
  }
  return d;
}

}  // namespace dsm
