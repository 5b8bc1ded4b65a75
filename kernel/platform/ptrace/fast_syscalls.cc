#include "kernel/platform/ptrace/fast_syscalls.h"

#include <linux/seccomp.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstring>

#include "kernel/platform/ptrace/fast_syscall_list.h"

namespace kernel::platform {
namespace {

// Linux 6.6: the target and the listener switch on one CPU (headers are 6.1).
constexpr unsigned long kNotifSetFlags = SECCOMP_IOW(4, __u64);
constexpr uint64_t kSyncWakeUp = 1;

int64_t value_of(const ThreadIds& ids, int nr) {
  switch (nr) {
    case SYS_getpid:
      return ids.pid;
    case SYS_gettid:
      return ids.tid;
    case SYS_getppid:
      return ids.ppid;
    case SYS_getpgrp:
      return ids.pgrp;
    case SYS_getuid:
      return ids.uid;
    case SYS_geteuid:
      return ids.euid;
    case SYS_getgid:
      return ids.gid;
    case SYS_getegid:
      return ids.egid;
  }
  return -ENOSYS;
}

// The list the stub's filter is built from and value_of must agree.
constexpr bool list_is_answered() {
  constexpr int fast[] = PANGAEA_FAST_SYSCALLS;
  for (int nr : fast) {
    if (nr != SYS_getpid && nr != SYS_gettid && nr != SYS_getppid && nr != SYS_getpgrp &&
        nr != SYS_getuid && nr != SYS_geteuid && nr != SYS_getgid && nr != SYS_getegid)
      return false;
  }
  return true;
}
static_assert(list_is_answered(), "fast_syscall_list.h names a syscall value_of cannot answer");

}  // namespace

Result<std::shared_ptr<FastSyscalls>> FastSyscalls::create() {
  base::UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
  if (!ep.valid()) return Errno::last();
  base::UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake.valid()) return Errno::last();
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake.get();
  if (::epoll_ctl(ep.get(), EPOLL_CTL_ADD, wake.get(), &ev) < 0) return Errno::last();
  std::shared_ptr<FastSyscalls> f(new FastSyscalls(std::move(ep), std::move(wake)));
  f->thread_ = std::thread([p = f.get()] { p->loop(); });
  return f;
}

FastSyscalls::~FastSyscalls() {
  uint64_t one = 1;
  if (::write(wake_.get(), &one, sizeof(one)) < 0) spdlog::error("fast syscalls: cannot stop");
  if (thread_.joinable()) thread_.join();
}

Result<void> FastSyscalls::add(base::UniqueFd listener) {
  // Best effort: older kernels answer without the same-CPU hand-off.
  (void)::ioctl(listener.get(), kNotifSetFlags, &kSyncWakeUp);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listener.get();
  std::lock_guard<std::mutex> lock(mu_);
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, listener.get(), &ev) < 0) return Errno::last();
  int fd = listener.get();
  listeners_[fd] = std::move(listener);
  return {};
}

void FastSyscalls::remove(int listener) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = listeners_.find(listener);
  if (it == listeners_.end()) return;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener, nullptr);
  listeners_.erase(it);  // closes it
}

void FastSyscalls::set_ids(pid_t host_tid, const ThreadIds& ids) {
  std::lock_guard<std::mutex> lock(mu_);
  ids_[host_tid] = ids;
}

void FastSyscalls::forget(pid_t host_tid) {
  std::lock_guard<std::mutex> lock(mu_);
  ids_.erase(host_tid);
}

void FastSyscalls::loop() {
  epoll_event evs[16];
  for (;;) {
    int n = ::epoll_wait(epoll_.get(), evs, 16, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::error("fast syscalls: epoll_wait: {}", std::strerror(errno));
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      if (fd == wake_.get()) return;
      if (!listeners_.count(fd)) continue;  // removed since epoll_wait
      if (evs[i].events & EPOLLIN) {
        answer(fd);
      } else if (evs[i].events & (EPOLLHUP | EPOLLERR)) {
        // Every thread of the stub is gone: stop watching until remove().
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
      }
    }
  }
}

void FastSyscalls::answer(int listener) {
  seccomp_notif req;
  std::memset(&req, 0, sizeof(req));
  if (::ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) return;  // its thread died
  seccomp_notif_resp resp;
  std::memset(&resp, 0, sizeof(resp));
  resp.id = req.id;
  auto it = ids_.find(static_cast<pid_t>(req.pid));
  if (it == ids_.end()) {
    if (!warned_) spdlog::error("fast syscalls: host thread {} has no ids (syscall {})", req.pid,
                                req.data.nr);
    warned_ = true;
    resp.error = -ENOSYS;
  } else {
    resp.val = value_of(it->second, req.data.nr);
  }
  if (::ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) == 0)
    answered_.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace kernel::platform
