// timerfd_create, timerfd_settime, timerfd_gettime (kernel/fs/timerfd.h).
// Reads go through the ordinary read handler, which waits on the file's
// queue; the scheduler's timers wake it.

#include <sys/timerfd.h>

#include "kernel/fs/timerfd.h"
#include "kernel/syscalls/handlers.h"
#include "kernel/syscalls/util.h"

namespace kernel::syscalls {

PANGAEA_SYSCALL(timerfd_create) {
  (void)k;
  int flags = arg_int(a.a[1]);
  if (flags & ~(TFD_NONBLOCK | TFD_CLOEXEC)) return Errno(EINVAL);
  auto f = TRY(fs::make_timerfd(arg_int(a.a[0]), flags & TFD_NONBLOCK));
  return static_cast<uint64_t>(TRY(p.fds.install(std::move(f), flags & TFD_CLOEXEC)));
}

PANGAEA_SYSCALL(timerfd_settime) {
  (void)k;
  int flags = arg_int(a.a[1]);
  if (flags & ~(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET)) return Errno(EINVAL);
  itimerspec value = TRY(p.mm->copy_in(mm::UserPtr<itimerspec>(a.a[2])));
  auto f = TRY(p.fds.get(arg_int(a.a[0])));
  itimerspec old = {};
  TRY(fs::timerfd_settime(*f, flags & TFD_TIMER_ABSTIME, value, a.a[3] ? &old : nullptr));
  if (a.a[3]) TRY(p.mm->copy_out(mm::UserPtr<itimerspec>(a.a[3]), old));
  return 0;
}

PANGAEA_SYSCALL(timerfd_gettime) {
  (void)k;
  auto f = TRY(p.fds.get(arg_int(a.a[0])));
  itimerspec v = TRY(fs::timerfd_gettime(*f));
  TRY(p.mm->copy_out(mm::UserPtr<itimerspec>(a.a[1]), v));
  return 0;
}

}  // namespace kernel::syscalls
