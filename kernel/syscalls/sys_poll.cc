// poll, ppoll, select, pselect6 over guest files.
//
// Readiness comes from each File. When nothing is ready: if every file is a
// host fd, the kernel thread waits in the host's poll() with the timeout;
// otherwise the process blocks on the wait queues of the files that have
// them (pipes) and the timeout is not honoured (partial: see the table).

#include <poll.h>
#include <sys/select.h>

#include <vector>

#include "kernel/syscalls/handlers.h"
#include "kernel/syscalls/util.h"

namespace kernel::syscalls {
namespace {

// How often a poll of pipes and host fds looks at the host fds.
constexpr uint64_t kHostLookNs = 5'000'000;

constexpr uint64_t kMaxPollFds = 1024;

// Fills revents; returns the count of ready entries. `timeout_ms` < 0: forever.
Result<uint64_t> poll_core(task::Kernel& k, task::Process& p, std::vector<pollfd>& fds,
                           int timeout_ms) {
  std::vector<std::shared_ptr<fs::File>> files(fds.size());
  auto scan = [&]() {
    uint64_t ready = 0;
    for (size_t i = 0; i < fds.size(); ++i) {
      fds[i].revents = 0;
      if (fds[i].fd < 0) continue;
      auto f = p.fds.get(fds[i].fd);
      if (!f.ok()) {
        fds[i].revents = POLLNVAL;
      } else {
        files[i] = *f;
        fds[i].revents = (*f)->poll_events(fds[i].events | POLLERR | POLLHUP);
      }
      if (fds[i].revents) ++ready;
    }
    return ready;
  };
  uint64_t ready = scan();
  if (ready || timeout_ms == 0) return ready;
  std::vector<fs::WaitQueue*> queues;
  std::vector<pollfd> host;
  for (size_t i = 0; i < fds.size(); ++i) {
    if (!files[i]) continue;
    fs::WaitQueue* r = (fds[i].events & POLLIN) ? files[i]->wait_queue(false) : nullptr;
    fs::WaitQueue* w = (fds[i].events & POLLOUT) ? files[i]->wait_queue(true) : nullptr;
    if (r) queues.push_back(r);
    if (w) queues.push_back(w);
    // (An epoll fd has both: kernel entries and a host epoll.)
    if (files[i]->poll_host_fd() >= 0)
      host.push_back({files[i]->poll_host_fd(), fds[i].events, 0});
  }
  // A timeout: the scheduler wakes the thread at the deadline.
  task::Thread& t = k.current();
  const uint64_t now = task::Kernel::now_ns();
  if (timeout_ms > 0) {
    if (!t.poll_deadline) t.poll_deadline = now + static_cast<uint64_t>(timeout_ms) * 1000000;
    if (now >= t.poll_deadline) return ready;  // timed out
  }
  t.sleep_deadline = t.poll_deadline;
  if (queues.empty()) {
    // Only host fds (the console, host sockets), or none (a sleep): the
    // scheduler polls them with the other guests' and runs those meanwhile.
    if (host.empty()) {
      t.state = task::Thread::State::kBlocked;
      t.waiting = task::Thread::Wait::kSleep;
    } else {
      k.block_on_host(p, std::move(host), t.sleep_deadline);
    }
    return Errno(kRestart);
  }
  // Host fds beside pipes: the pipes wake the thread; the host fds are
  // looked at again every few ms (a thread waits on one kind of thing).
  if (!host.empty()) {
    const uint64_t look = now + kHostLookNs;
    if (!t.sleep_deadline || look < t.sleep_deadline) t.sleep_deadline = look;
  }
  for (fs::WaitQueue* q : queues) k.block_on(p, *q);
  return Errno(kRestart);
}

Result<uint64_t> do_poll(task::Kernel& k, task::Process& p, uint64_t addr, uint64_t n,
                         int timeout_ms) {
  if (n > kMaxPollFds) return Errno(EINVAL);
  std::vector<pollfd> fds(n);
  if (n) TRY(p.mm->copy_in(addr, fds.data(), n * sizeof(pollfd)));
  uint64_t ready = TRY(poll_core(k, p, fds, timeout_ms));
  if (n) TRY(p.mm->copy_out(addr, fds.data(), n * sizeof(pollfd)));
  return ready;
}

Result<int> timeout_from_timespec(task::Process& p, uint64_t addr) {
  if (!addr) return -1;
  struct timespec ts = TRY(p.mm->copy_in(mm::UserPtr<struct timespec>(addr)));
  if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000) return Errno(EINVAL);
  int64_t ms = ts.tv_sec * 1000 + (ts.tv_nsec + 999999) / 1000000;
  return static_cast<int>(std::min<int64_t>(ms, INT32_MAX));
}

Result<uint64_t> do_select(task::Kernel& k, task::Process& p, int nfds, uint64_t rd, uint64_t wr,
                           uint64_t ex, int timeout_ms) {
  if (nfds < 0 || nfds > FD_SETSIZE) return Errno(EINVAL);
  size_t bytes = (static_cast<size_t>(nfds) + 63) / 64 * 8;
  fd_set sets[3] = {};
  uint64_t addrs[3] = {rd, wr, ex};
  for (int s = 0; s < 3; ++s)
    if (addrs[s] && bytes) TRY(p.mm->copy_in(addrs[s], &sets[s], bytes));
  std::vector<pollfd> fds;
  for (int fd = 0; fd < nfds; ++fd) {
    short ev = 0;
    if (FD_ISSET(fd, &sets[0])) ev |= POLLIN;
    if (FD_ISSET(fd, &sets[1])) ev |= POLLOUT;
    if (FD_ISSET(fd, &sets[2])) ev |= POLLPRI;
    if (ev) fds.push_back({fd, ev, 0});
  }
  TRY(poll_core(k, p, fds, timeout_ms));
  fd_set out[3] = {};
  uint64_t count = 0;
  for (const auto& f : fds) {
    if (f.revents & POLLNVAL) return Errno(EBADF);
    if ((f.events & POLLIN) && (f.revents & (POLLIN | POLLHUP | POLLERR)))
      FD_SET(f.fd, &out[0]), ++count;
    if ((f.events & POLLOUT) && (f.revents & (POLLOUT | POLLERR))) FD_SET(f.fd, &out[1]), ++count;
    if ((f.events & POLLPRI) && (f.revents & POLLPRI)) FD_SET(f.fd, &out[2]), ++count;
  }
  for (int s = 0; s < 3; ++s)
    if (addrs[s] && bytes) TRY(p.mm->copy_out(addrs[s], &out[s], bytes));
  return count;
}

}  // namespace

PANGAEA_SYSCALL(poll) { return do_poll(k, p, a.a[0], a.a[1], arg_int(a.a[2])); }

PANGAEA_SYSCALL(ppoll) {
  int timeout = TRY(timeout_from_timespec(p, a.a[2]));
  return do_poll(k, p, a.a[0], a.a[1], timeout);
}

PANGAEA_SYSCALL(select) {
  int timeout = -1;
  if (a.a[4]) {
    struct timeval tv = TRY(p.mm->copy_in(mm::UserPtr<struct timeval>(a.a[4])));
    if (tv.tv_sec < 0 || tv.tv_usec < 0) return Errno(EINVAL);
    timeout = static_cast<int>(
        std::min<int64_t>(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000, INT32_MAX));
  }
  return do_select(k, p, arg_int(a.a[0]), a.a[1], a.a[2], a.a[3], timeout);
}

PANGAEA_SYSCALL(pselect6) {
  int timeout = TRY(timeout_from_timespec(p, a.a[4]));
  return do_select(k, p, arg_int(a.a[0]), a.a[1], a.a[2], a.a[3], timeout);
}

}  // namespace kernel::syscalls
