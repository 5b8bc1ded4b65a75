#include "kernel/fs/timerfd.h"

#include <fcntl.h>
#include <poll.h>

#include <algorithm>

#include "kernel/fs/timer_list.h"

namespace kernel::fs {
namespace {

uint64_t clock_ns(clockid_t c) {
  struct timespec ts;
  ::clock_gettime(c, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

uint64_t to_ns(const timespec& ts) {
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

timespec to_ts(uint64_t ns) {
  return {static_cast<time_t>(ns / 1000000000ull), static_cast<long>(ns % 1000000000ull)};
}

// What the timer callback shares with the file (which it must not keep alive).
struct TimerState {
  uint64_t next = 0;      // CLOCK_MONOTONIC deadline; 0: disarmed
  uint64_t interval = 0;  // 0: one-shot
  uint64_t ticks = 0;     // expirations not yet read
  uint64_t timer_id = 0;  // in TimerList; 0: none
  WaitQueue readable;

  // Counts the expirations up to now.
  void update() {
    if (!next) return;
    uint64_t now = clock_ns(CLOCK_MONOTONIC);
    if (now < next) return;
    if (interval) {
      uint64_t n = (now - next) / interval + 1;
      ticks += n;
      next += n * interval;
    } else {
      ticks += 1;
      next = 0;
    }
  }
};

// A periodic timer's wake-ups come at least this far apart (its count
// stays exact: it comes from the clock), so a tiny period cannot keep the
// scheduler from sleeping.
constexpr uint64_t kMinRearmNs = 100'000;

void arm(const std::shared_ptr<TimerState>& s, uint64_t not_before = 0) {
  if (s->timer_id) TimerList::get().cancel(s->timer_id);
  s->timer_id = 0;
  if (!s->next) return;
  std::weak_ptr<TimerState> ws = s;
  s->timer_id = TimerList::get().add(std::max(s->next, not_before), [ws] {
    auto st = ws.lock();
    if (!st) return;
    st->timer_id = 0;
    st->update();
    arm(st, clock_ns(CLOCK_MONOTONIC) + kMinRearmNs);  // a periodic timer's next expiry
    st->readable.notify_all();
  });
}

class TimerFd : public File {
 public:
  TimerFd(int clock, int flags)
      : File("anon_inode:[timerfd]", O_RDWR | flags),
        clock_(clock),
        s_(std::make_shared<TimerState>()) {}
  ~TimerFd() override {
    if (s_->timer_id) TimerList::get().cancel(s_->timer_id);
  }

  Result<uint64_t> read(mm::MemoryManager& mm, uint64_t buf, uint64_t len) override {
    if (len < sizeof(uint64_t)) return Errno(EINVAL);
    s_->update();
    if (!s_->ticks) return Errno(EAGAIN);
    TRY(mm.copy_out(buf, &s_->ticks, sizeof(uint64_t)));
    s_->ticks = 0;
    return sizeof(uint64_t);
  }
  Result<uint64_t> write(mm::MemoryManager&, uint64_t, uint64_t) override { return Errno(EINVAL); }
  Result<struct stat> stat() override { return anon_inode_stat(); }
  short poll_events(short events) override {
    s_->update();
    return s_->ticks ? static_cast<short>(events & (POLLIN | POLLRDNORM)) : 0;
  }
  WaitQueue* wait_queue(bool for_write) override { return for_write ? nullptr : &s_->readable; }

  itimerspec get() {
    s_->update();
    itimerspec v = {};
    v.it_interval = to_ts(s_->interval);
    if (s_->next) {
      uint64_t now = clock_ns(CLOCK_MONOTONIC);
      v.it_value = to_ts(s_->next > now ? s_->next - now : 1);
    }
    return v;
  }
  void set(bool abs, const itimerspec& value) {
    s_->ticks = 0;
    s_->interval = to_ns(value.it_interval);
    uint64_t v = to_ns(value.it_value);
    uint64_t now = clock_ns(CLOCK_MONOTONIC);
    if (v == 0) {
      s_->next = 0;
    } else if (!abs) {
      s_->next = now + v;
    } else {
      // An absolute time on the timer's clock, moved to CLOCK_MONOTONIC.
      uint64_t cnow = clock_ns(clock_);
      s_->next = v > cnow ? now + (v - cnow) : now;
    }
    arm(s_);
    s_->readable.notify_all();  // pollers look again
  }

 private:
  clockid_t clock_;
  std::shared_ptr<TimerState> s_;
};

bool valid(const timespec& ts) {
  return ts.tv_sec >= 0 && ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000;
}

}  // namespace

Result<std::shared_ptr<File>> make_timerfd(int clock, int flags) {
  if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC && clock != CLOCK_BOOTTIME)
    return Errno(EINVAL);
  return std::shared_ptr<File>(std::make_shared<TimerFd>(clock, flags));
}

Result<void> timerfd_settime(File& f, bool abs, const itimerspec& value, itimerspec* old) {
  auto* t = dynamic_cast<TimerFd*>(&f);
  if (!t) return Errno(EINVAL);
  if (!valid(value.it_value) || !valid(value.it_interval)) return Errno(EINVAL);
  if (old) *old = t->get();
  t->set(abs, value);
  return {};
}

Result<itimerspec> timerfd_gettime(File& f) {
  auto* t = dynamic_cast<TimerFd*>(&f);
  if (!t) return Errno(EINVAL);
  return t->get();
}

}  // namespace kernel::fs
