#include "kernel/fs/epoll.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>

namespace kernel::fs {
namespace {

// Linux's EPOLLEXCLUSIVE_OK_BITS: what may come with EPOLLEXCLUSIVE.
constexpr uint32_t kExclusiveOk = EPOLLIN | EPOLLOUT | EPOLLRDNORM | EPOLLRDBAND | EPOLLWRNORM |
                                  EPOLLWRBAND | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET |
                                  EPOLLEXCLUSIVE;
// Linux's EP_MAX_NESTS: epolls nested deeper are ELOOP.
constexpr int kMaxNests = 4;
// Host events taken per collect at most.
constexpr size_t kHostBatch = 256;
// The host data of a nested epoll's wake-only registration (not an event).
constexpr uint64_t kWakeOnly = uint64_t{1} << 63;

// Files Linux cannot poll (no f_op->poll): EPERM. Host files say so
// themselves (the host epoll refuses them); these are the kernel's own.
bool kernel_file_pollable(File& f) {
  auto st = f.stat();
  if (!st.ok()) return true;
  if (S_ISREG(st->st_mode) || S_ISDIR(st->st_mode)) return false;
  // /dev/null and /dev/zero have no poll on Linux (urandom has).
  if (S_ISCHR(st->st_mode) && (st->st_rdev == makedev(1, 3) || st->st_rdev == makedev(1, 5)))
    return false;
  return true;
}

}  // namespace

Result<std::shared_ptr<Epoll>> Epoll::create() {
  int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) return Errno::last();
  return std::shared_ptr<Epoll>(new Epoll(base::UniqueFd(fd)));
}

Epoll::Epoll(base::UniqueFd host_epfd)
    : File("anon_inode:[eventpoll]", O_RDWR), host_epfd_(std::move(host_epfd)) {}

Epoll::~Epoll() = default;

Result<struct stat> Epoll::stat() { return anon_inode_stat(); }

WaitQueue* Epoll::wait_queue(bool for_write) {
  if (for_write || !has_kernel_entries()) return nullptr;
  return &ready_;
}

bool Epoll::has_kernel_entries() { return kernel_count_ > 0; }

uint32_t Epoll::kernel_ready(Entry& e, File& f) {
  if (e.disabled) return 0;
  if ((e.events & EPOLLET) && !e.edge) return 0;
  short want = static_cast<short>((e.events & 0xffff) | POLLERR | POLLHUP);
  uint32_t r = static_cast<uint16_t>(f.poll_events(want));
  return r & (e.events | EPOLLERR | EPOLLHUP) & 0xffff & ~uint32_t{POLLNVAL};
}

short Epoll::poll_events(short events) {
  bool ready = false;
  for (auto& we : kernel_) {
    auto e = we.lock();
    if (!e) continue;
    auto f = e->file.lock();
    if (f && kernel_ready(*e, *f)) {
      ready = true;
      break;
    }
  }
  if (!ready) {
    pollfd pfd{host_epfd_.get(), POLLIN, 0};
    ready = ::poll(&pfd, 1, 0) > 0;
  }
  return ready ? static_cast<short>(events & (POLLIN | POLLRDNORM)) : 0;
}

void Epoll::watch(WaitQueue* q, std::weak_ptr<Entry> we) {
  q->add([q, we] {
    auto e = we.lock();
    if (!e) return;  // the entry left the set: the watch ends
    e->edge = true;
    watch(q, we);  // wake-ups are one-shot: stay registered
    e->owner->ready_.notify_all();
  });
}

std::shared_ptr<Epoll::Entry> Epoll::find(const Key& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  if (it->second->file.expired()) {
    remove(it->second);
    return nullptr;
  }
  return it->second;
}

void Epoll::remove(std::shared_ptr<Entry> e) {
  auto f = e->file.lock();
  // A host entry of a file still open leaves the host set; a closed file's
  // host fd is gone and the host dropped it (never DEL by a number that
  // may name another file now).
  if (e->host && f && !e->dup.valid())
    ::epoll_ctl(host_epfd_.get(), EPOLL_CTL_DEL, f->host_fd(), nullptr);
  if (e->host || e->nested) --host_regs_;
  if (!e->host) {
    if (auto* inner = dynamic_cast<Epoll*>(f.get()))
      ::epoll_ctl(host_epfd_.get(), EPOLL_CTL_DEL, inner->host_epfd(), nullptr);
    --kernel_count_;
  }
  host_ids_.erase(e->id);
  auto it = entries_.find(e->key);
  if (it != entries_.end() && it->second == e) entries_.erase(it);  // closes `dup`
}

int Epoll::depth_below() {
  int d = 0;
  for (auto& [key, e] : entries_) {
    if (e->host) continue;
    auto f = e->file.lock();
    if (auto* inner = dynamic_cast<Epoll*>(f.get())) d = std::max(d, 1 + inner->depth_below());
  }
  return d;
}

bool Epoll::loops_with(Epoll* inner) {
  if (inner == this) return true;
  for (auto& [key, e] : inner->entries_) {
    if (e->host) continue;
    auto f = e->file.lock();
    if (auto* next = dynamic_cast<Epoll*>(f.get()); next && loops_with(next)) return true;
  }
  return false;
}

Result<void> Epoll::ctl(int op, int fd, const std::shared_ptr<File>& file, const epoll_event& ev) {
  if (file.get() == this) return Errno(EINVAL);
  auto* inner = dynamic_cast<Epoll*>(file.get());
  const bool kernel_side =
      inner || file->wait_queue(false) || file->wait_queue(true) || file->host_fd() < 0;
  if (kernel_side && !inner && !kernel_file_pollable(*file)) return Errno(EPERM);
  uint32_t events = ev.events & ~uint32_t{EPOLLWAKEUP};  // needs CAP_BLOCK_SUSPEND: dropped
  if (op != EPOLL_CTL_DEL && (events & EPOLLEXCLUSIVE)) {
    if (op == EPOLL_CTL_MOD) return Errno(EINVAL);
    if (op == EPOLL_CTL_ADD && (inner || (events & ~kExclusiveOk))) return Errno(EINVAL);
  }
  if (op != EPOLL_CTL_ADD && op != EPOLL_CTL_MOD && op != EPOLL_CTL_DEL) return Errno(EINVAL);
  if (op == EPOLL_CTL_ADD && inner && (loops_with(inner) || 1 + inner->depth_below() > kMaxNests))
    return Errno(ELOOP);
  const Key key{file.get(), fd};
  auto e = find(key);
  switch (op) {
    case EPOLL_CTL_ADD: {
      if (e) return Errno(EEXIST);
      e = std::make_shared<Entry>();
      e->id = next_id_++;
      e->key = key;
      e->fd = fd;
      e->file = file;
      e->events = events | EPOLLERR | EPOLLHUP;
      e->data = ev.data.u64;
      e->owner = this;
      e->host = !kernel_side;
      if (e->host) {
        epoll_event hev{events, {}};
        hev.data.u64 = e->id;
        int hfd = file->host_fd();
        if (::epoll_ctl(host_epfd_.get(), EPOLL_CTL_ADD, hfd, &hev) < 0) {
          if (errno != EEXIST) return Errno::last();
          // The same file under another guest fd: the host keys by host fd,
          // so this entry registers a host fd of its own.
          e->dup = base::UniqueFd(::fcntl(hfd, F_DUPFD_CLOEXEC, 3));
          if (!e->dup.valid()) return Errno::last();
          if (::epoll_ctl(host_epfd_.get(), EPOLL_CTL_ADD, e->dup.get(), &hev) < 0)
            return Errno::last();
        }
        ++host_regs_;
      } else {
        if (inner) {
          // The inner one's host events wake us (edge-triggered: once each).
          epoll_event hev{EPOLLIN | EPOLLET, {}};
          hev.data.u64 = e->id | kWakeOnly;
          if (::epoll_ctl(host_epfd_.get(), EPOLL_CTL_ADD, inner->host_epfd(), &hev) < 0)
            return Errno::last();
          e->nested = true;
          ++host_regs_;
          watch(&inner->ready_, e);
        } else {
          WaitQueue* r = file->wait_queue(false);
          WaitQueue* w = file->wait_queue(true);
          if (r) watch(r, e);
          if (w && w != r) watch(w, e);
        }
        kernel_.push_back(e);
        ++kernel_count_;
      }
      host_ids_[e->id] = e;
      entries_[key] = e;
      break;
    }
    case EPOLL_CTL_MOD: {
      if (!e) return Errno(ENOENT);
      if (e->events & EPOLLEXCLUSIVE) return Errno(EINVAL);
      if (e->host) {
        epoll_event hev{events, {}};
        hev.data.u64 = e->id;
        int hfd = e->dup.valid() ? e->dup.get() : file->host_fd();
        if (::epoll_ctl(host_epfd_.get(), EPOLL_CTL_MOD, hfd, &hev) < 0) return Errno::last();
      }
      e->events = events | EPOLLERR | EPOLLHUP;
      e->data = ev.data.u64;
      e->disabled = false;
      e->edge = true;
      break;
    }
    case EPOLL_CTL_DEL:
      if (!e) return Errno(ENOENT);
      remove(e);
      return {};
  }
  ready_.notify_all();  // pollers of this epoll look again
  return {};
}

bool Epoll::report(Entry& e, File& f, std::vector<epoll_event>& out) {
  uint32_t r = kernel_ready(e, f);
  e.edge = false;
  if (!r) return false;
  if (e.events & EPOLLONESHOT) e.disabled = true;
  epoll_event ev{r, {}};
  ev.data.u64 = e.data;
  out.push_back(ev);
  return true;
}

void Epoll::scan_kernel(std::vector<epoll_event>& out, size_t max,
                        std::vector<const Entry*>& reported) {
  // In rotation: every entry looked at goes to the back (Linux's ready list).
  for (size_t left = kernel_.size(); left > 0 && out.size() < max; --left) {
    auto we = kernel_.front();
    kernel_.pop_front();
    auto e = we.lock();
    if (!e) continue;  // removed
    auto f = e->file.lock();
    if (!f) {
      remove(e);
      continue;
    }
    kernel_.push_back(we);
    if (report(*e, *f, out)) reported.push_back(e.get());
  }
}

std::vector<epoll_event> Epoll::collect(size_t max) {
  std::vector<epoll_event> out;
  if (max == 0) return out;
  // Host and kernel entries take turns going first, so neither side's
  // level-triggered entries starve the other when `max` is small.
  const bool kernel_first = (turn_ ^= 1);
  std::vector<const Entry*> reported;
  if (kernel_first) scan_kernel(out, max, reported);
  // Nested epolls whose host events came: looked at again below.
  std::vector<std::shared_ptr<Entry>> woken;
  // The host keeps its entries' edge and one-shot state: take no more than fit.
  if (out.size() < max && host_regs_ > 0) {
    std::vector<epoll_event> hev(std::min(max - out.size(), kHostBatch));
    int n = ::epoll_wait(host_epfd_.get(), hev.data(), static_cast<int>(hev.size()), 0);
    for (int i = 0; i < n; ++i) {
      uint64_t id = hev[i].data.u64 & ~kWakeOnly;
      auto it = host_ids_.find(id);
      if (it == host_ids_.end()) continue;
      auto e = it->second.lock();
      if (!e) continue;
      if (e->file.expired()) {
        remove(e);
        continue;
      }
      if (hev[i].data.u64 & kWakeOnly) {
        e->edge = true;  // a nested epoll got host events
        woken.push_back(e);
        continue;
      }
      epoll_event ev{hev[i].events, {}};
      ev.data.u64 = e->data;
      out.push_back(ev);
    }
  }
  if (!kernel_first) {
    scan_kernel(out, max, reported);
  } else {
    // Looked at before their wake-up came: once more, unless reported this
    // call already (their edge then stays for the next call).
    for (auto& e : woken) {
      if (out.size() >= max) break;
      if (std::find(reported.begin(), reported.end(), e.get()) != reported.end()) continue;
      if (auto f = e->file.lock()) report(*e, *f, out);
    }
  }
  return out;
}

}  // namespace kernel::fs
