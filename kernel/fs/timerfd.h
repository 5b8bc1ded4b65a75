#pragma once
// TimerFd: timerfd_create(2)'s File. Its deadline is kept in
// CLOCK_MONOTONIC ns (an absolute CLOCK_REALTIME time is converted when
// set, so a later jump of the wall clock does not move it); expirations are
// counted from the clock when looked at, and a TimerList entry (fired by the
// scheduler's run_timers) wakes readers, pollers and epolls at the deadline.
// read gives the count since the last read (EAGAIN at 0: the reader waits
// on the file's queue).
//
// Threads: the kernel thread only.

#include <time.h>

#include <memory>

#include "kernel/fs/file.h"

namespace kernel::fs {

// `clock`: CLOCK_REALTIME, CLOCK_MONOTONIC or CLOCK_BOOTTIME (else EINVAL);
// `flags`: O_NONBLOCK.
Result<std::shared_ptr<File>> make_timerfd(int clock, int flags);
// timerfd_settime/gettime on `f` (EINVAL: not a timerfd). `abs`:
// TFD_TIMER_ABSTIME. `old`, when not null, gets the previous setting.
Result<void> timerfd_settime(File& f, bool abs, const itimerspec& value, itimerspec* old);
Result<itimerspec> timerfd_gettime(File& f);

}  // namespace kernel::fs
