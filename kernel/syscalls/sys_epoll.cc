// epoll_create, epoll_create1, epoll_ctl, epoll_wait, epoll_pwait,
// epoll_pwait2 over guest files (kernel/fs/epoll.h).
//
// A wait with nothing ready blocks the thread on the instance's host epoll
// fd (host entries, through the scheduler's poll of host fds) and on its
// ready queue (kernel entries) at once, up to the timeout (on the queue
// alone when the host epoll is empty); when woken the
// call runs again from the start (kRestart) and collects. A signal with a
// handler ends the wait with EINTR, never restarted (the kernel's
// finish_interrupted_syscall). epoll_pwait's mask is in force during the
// wait and restored after, or, on EINTR, by the handler's sigreturn.

#include <limits.h>
#include <sys/epoll.h>

#include "kernel/fs/epoll.h"
#include "kernel/syscalls/handlers.h"
#include "kernel/syscalls/util.h"
#include "kernel/task/signals.h"

namespace kernel::syscalls {
namespace {

// Linux's EP_MAX_EVENTS.
constexpr int64_t kMaxEvents = INT_MAX / sizeof(epoll_event);
// Events taken per call at most (a larger maxevents gets the rest next time).
constexpr size_t kBatch = 1024;

Result<uint64_t> create(task::Process& p, bool cloexec) {
  auto ep = TRY(fs::Epoll::create());
  return static_cast<uint64_t>(TRY(p.fds.install(std::move(ep), cloexec)));
}

Result<fs::Epoll*> epoll_of(task::Process& p, int epfd, std::shared_ptr<fs::File>& hold) {
  hold = TRY(p.fds.get(epfd));
  auto* ep = dynamic_cast<fs::Epoll*>(hold.get());
  if (!ep) return Errno(EINVAL);
  return ep;
}

// `timeout_ns` < 0: forever. `signals`: a pending signal the mask lets
// through ends the wait with EINTR (epoll_pwait's mask).
Result<uint64_t> wait_core(task::Kernel& k, task::Process& p, task::Thread& t, int epfd,
                           uint64_t addr, int maxevents, int64_t timeout_ns, bool signals) {
  if (maxevents <= 0 || maxevents > kMaxEvents) return Errno(EINVAL);
  std::shared_ptr<fs::File> hold;
  fs::Epoll* ep = TRY(epoll_of(p, epfd, hold));
  auto events = ep->collect(std::min<size_t>(static_cast<size_t>(maxevents), kBatch));
  if (!events.empty()) {
    TRY(p.mm->copy_out(addr, events.data(), events.size() * sizeof(epoll_event)));
    return events.size();
  }
  if (timeout_ns == 0) return 0;
  if (signals && ((t.pending | p.pending) & ~t.sigmask)) return Errno(EINTR);
  const uint64_t now = task::Kernel::now_ns();
  if (timeout_ns > 0) {
    if (!t.poll_deadline) t.poll_deadline = now + static_cast<uint64_t>(timeout_ns);
    if (now >= t.poll_deadline) return 0;  // timed out
  }
  if (!ep->has_host_entries()) {
    // Kernel files only: the ready queue alone (no host poll).
    t.sleep_deadline = t.poll_deadline;
    k.block_on(p, ep->ready_queue());
    return Errno(kRestart);
  }
  std::vector<pollfd> host{{ep->host_epfd(), POLLIN, 0}};
  if (ep->has_kernel_entries())
    k.block_on_host(p, std::move(host), t.poll_deadline, ep->ready_queue());
  else
    k.block_on_host(p, std::move(host), t.poll_deadline);
  return Errno(kRestart);
}

// epoll_pwait/epoll_pwait2: the temporary mask around wait_core.
Result<uint64_t> pwait(task::Kernel& k, task::Process& p, task::Thread& t, const SyscallArgs& a,
                       int64_t timeout_ns) {
  const uint64_t mask_addr = a.a[4];
  if (!mask_addr)
    return wait_core(k, p, t, arg_int(a.a[0]), a.a[1], arg_int(a.a[2]), timeout_ns, false);
  if (a.a[5] != sizeof(uint64_t)) return Errno(EINVAL);
  uint64_t mask = TRY(p.mm->copy_in(mm::UserPtr<uint64_t>(mask_addr)));
  if (!t.has_saved_sigmask) {
    t.saved_sigmask = t.sigmask;
    t.has_saved_sigmask = true;
  }
  t.sigmask = mask & ~(task::sigbit(SIGKILL) | task::sigbit(SIGSTOP));
  auto r = wait_core(k, p, t, arg_int(a.a[0]), a.a[1], arg_int(a.a[2]), timeout_ns, true);
  if (!r.ok() && r.error().code == kRestart) return r;  // waiting under the mask
  // EINTR: the handler's frame records the saved mask for its sigreturn.
  if (r.ok() || r.error().code != EINTR) {
    t.sigmask = t.saved_sigmask;
    t.has_saved_sigmask = false;
  }
  return r;
}

}  // namespace

PANGAEA_SYSCALL(epoll_create) {
  (void)k;
  if (static_cast<int>(a.a[0]) <= 0) return Errno(EINVAL);
  return create(p, false);
}

PANGAEA_SYSCALL(epoll_create1) {
  (void)k;
  int flags = arg_int(a.a[0]);
  if (flags & ~EPOLL_CLOEXEC) return Errno(EINVAL);
  return create(p, flags & EPOLL_CLOEXEC);
}

PANGAEA_SYSCALL(epoll_ctl) {
  (void)k;
  int op = arg_int(a.a[1]);
  epoll_event ev = {};
  if (op != EPOLL_CTL_DEL) TRY(p.mm->copy_in(a.a[3], &ev, sizeof(ev)));
  std::shared_ptr<fs::File> hold = TRY(p.fds.get(arg_int(a.a[0])));
  std::shared_ptr<fs::File> target = TRY(p.fds.get(arg_int(a.a[2])));
  auto* ep = dynamic_cast<fs::Epoll*>(hold.get());
  if (!ep) return Errno(EINVAL);
  TRY(ep->ctl(op, arg_int(a.a[2]), target, ev));
  return 0;
}

PANGAEA_SYSCALL(epoll_wait) {
  int ms = arg_int(a.a[3]);
  int64_t timeout = ms < 0 ? -1 : static_cast<int64_t>(ms) * 1000000;
  return wait_core(k, p, t, arg_int(a.a[0]), a.a[1], arg_int(a.a[2]), timeout, false);
}

PANGAEA_SYSCALL(epoll_pwait) {
  int ms = arg_int(a.a[3]);
  return pwait(k, p, t, a, ms < 0 ? -1 : static_cast<int64_t>(ms) * 1000000);
}

PANGAEA_SYSCALL(epoll_pwait2) {
  int64_t timeout = -1;
  if (a.a[3]) {
    struct timespec ts = TRY(p.mm->copy_in(mm::UserPtr<struct timespec>(a.a[3])));
    if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000) return Errno(EINVAL);
    timeout = ts.tv_sec > INT64_MAX / 1000000000 - 1 ? INT64_MAX / 2
                                                     : ts.tv_sec * 1000000000 + ts.tv_nsec;
  }
  return pwait(k, p, t, a, timeout);
}

}  // namespace kernel::syscalls
