#pragma once
// FastSyscalls: answers a stub's id syscalls (fast_syscall_list.h: getpid,
// gettid, ...) without a ptrace stop. Each stub's seccomp filter turns those
// syscalls into user notifications on a listener fd the tracer pulled out of
// the stub; a helper thread waits on every listener (epoll), reads a
// notification (SECCOMP_IOCTL_NOTIF_RECV), looks up the calling host thread's
// ThreadIds and replies with the value (SECCOMP_IOCTL_NOTIF_SEND). The host
// never runs the syscall. Three host calls and two context switches instead
// of a ptrace stop's four calls (GETREGS, POKEUSER, SYSEMU, wait): see
// docs/PERFORMANCE.md "Guest kernel".
//
// A host thread with no ids set (it should never make one of these calls:
// only threads running guest code do, and their Context sets ids before each
// run) gets ENOSYS, logged once.
//
// Threads: add/remove/set_ids/forget from the platform's thread; the helper
// thread runs loop(). mu_ guards the listener table and the ids, and is held
// by the helper across one RECV+SEND so that a listener is never closed (and
// its fd number reused) under it. RECV does not block there: a listener
// epoll reports readable holds a notification, or one of a thread that died,
// for which RECV fails at once with ENOENT. Lock order: mu_ alone.

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "base/result.h"
#include "base/unique_fd.h"
#include "kernel/platform/platform.h"

namespace kernel::platform {

class FastSyscalls {
 public:
  static Result<std::shared_ptr<FastSyscalls>> create();
  ~FastSyscalls();
  FastSyscalls(const FastSyscalls&) = delete;
  FastSyscalls& operator=(const FastSyscalls&) = delete;

  // Starts answering the notifications of `listener` (owned from now on).
  Result<void> add(base::UniqueFd listener);
  // Stops and closes it (its stub is gone or killed).
  void remove(int listener);
  void set_ids(pid_t host_tid, const ThreadIds& ids);
  void forget(pid_t host_tid);
  // Notifications answered so far (for tests and the bench).
  uint64_t answered() const { return answered_.load(std::memory_order_relaxed); }

 private:
  FastSyscalls(base::UniqueFd epoll, base::UniqueFd wake)
      : epoll_(std::move(epoll)), wake_(std::move(wake)) {}
  void loop();
  // One notification of `listener`; mu_ held.
  void answer(int listener);

  base::UniqueFd epoll_;
  base::UniqueFd wake_;  // eventfd: ends loop()
  std::mutex mu_;
  std::unordered_map<int, base::UniqueFd> listeners_;  // GUARDED_BY(mu_)
  std::unordered_map<pid_t, ThreadIds> ids_;           // GUARDED_BY(mu_)
  bool warned_ = false;                                // GUARDED_BY(mu_)
  std::atomic<uint64_t> answered_{0};
  std::thread thread_;
};

}  // namespace kernel::platform
