#pragma once
// Epoll: a guest epoll instance, a File holding an interest list. Entries
// are keyed as Linux keys them, by (open file, fd number), and hold the file
// weakly: an entry leaves the set when the last reference to its file goes
// (closing one of two dups leaves it in), found expired at the next look.
//
// Two kinds of entries, chosen by the file:
//  - host entries: files backed by a host fd that waits (sockets, the
//    console). They are registered in a host epoll instance the Epoll owns,
//    with the guest's flags (EPOLLET, EPOLLONESHOT, EPOLLEXCLUSIVE...), so the
//    host keeps edge and one-shot state; the host event's data is the
//    entry's id. Regular files and directories: the host says EPERM.
//  - kernel entries: files with a kernel wait queue (pipes, eventfds,
//    timerfds, nested epolls) or none (devices that never block; /dev/null
//    and /dev/zero are EPERM as on Linux). Readiness comes from
//    File::poll_events; a watch on the file's wait queues (re-armed each time
//    it fires) marks the entry `edge` (for EPOLLET) and notifies the
//    Epoll's own queue, where epoll_wait and pollers of the epoll fd wait.
//
// Level-triggered entries are reported while ready, in rotation (a reported
// entry goes to the back, as on Linux's ready list); EPOLLET kernel entries
// once per wake-up of their file; EPOLLONESHOT entries once until
// EPOLL_CTL_MOD. Nested epolls are kernel entries (EPOLLIN when the inner
// one has events; the inner one's host epoll is also in the outer's, as an
// edge-triggered wake-up only); loops and nesting deeper than Linux's 4
// levels are ELOOP. collect() lets host and kernel entries go first in
// turn, so a small maxevents starves neither side.
//
// Known differences: when one file is in a set under two fds (dups), the
// second entry registers a dup of the host fd; after the guest closes the
// file, that dup keeps the host file open (the peer sees no EOF) until a
// host event or an epoll_ctl on that entry shows the file gone.
// EPOLLEXCLUSIVE only limits wake-ups of host fds (the host's rule).
//
// Threads: the kernel thread only.

#include <sys/epoll.h>

#include <list>
#include <map>
#include <memory>
#include <vector>

#include "kernel/fs/file.h"

namespace kernel::fs {

class Epoll : public File {
 public:
  static Result<std::shared_ptr<Epoll>> create();
  ~Epoll() override;

  Result<uint64_t> read(mm::MemoryManager&, uint64_t, uint64_t) override { return Errno(EINVAL); }
  Result<uint64_t> write(mm::MemoryManager&, uint64_t, uint64_t) override { return Errno(EINVAL); }
  Result<struct stat> stat() override;
  short poll_events(short events) override;
  // Pollers of the epoll fd wait here while kernel entries exist (else on
  // the host epoll: poll_host_fd).
  WaitQueue* wait_queue(bool for_write) override;
  int poll_host_fd() const override { return host_epfd_.get(); }

  // epoll_ctl on (fd, file): op EPOLL_CTL_ADD/MOD/DEL, `ev` (ignored for
  // DEL). Errors as Linux: EEXIST, ENOENT, EINVAL, EPERM, ELOOP.
  Result<void> ctl(int op, int fd, const std::shared_ptr<File>& file, const epoll_event& ev);
  // Takes up to `max` ready events (consuming edge and one-shot state).
  std::vector<epoll_event> collect(size_t max);
  // Whether some kernel entry exists (the waiter needs ready_queue()).
  bool has_kernel_entries();
  // Whether the host epoll holds anything (else epoll_wait need not ask it).
  bool has_host_entries() const { return host_regs_ > 0; }
  WaitQueue& ready_queue() { return ready_; }
  int host_epfd() const { return host_epfd_.get(); }

 private:
  using Key = std::pair<const File*, int>;
  struct Entry {
    uint64_t id = 0;
    Key key{nullptr, -1};
    int fd = -1;
    std::weak_ptr<File> file;
    uint32_t events = 0;  // as given, with EPOLLERR | EPOLLHUP
    uint64_t data = 0;
    bool host = false;
    bool nested = false;    // an epoll, with a wake-only host registration
    base::UniqueFd dup;     // host entries of a file already in the set: our own host fd
    bool disabled = false;  // a one-shot kernel entry that fired
    bool edge = true;       // a wake-up (or ADD/MOD) since last reported
    Epoll* owner = nullptr;
  };

  explicit Epoll(base::UniqueFd host_epfd);
  // The entry for key, dropping it if its file is gone.
  std::shared_ptr<Entry> find(const Key& key);
  void remove(std::shared_ptr<Entry> e);  // by value: it may hold the last reference
  // The ready events of kernel entry e now (0: none).
  uint32_t kernel_ready(Entry& e, File& f);
  static void watch(WaitQueue* q, std::weak_ptr<Entry> we);
  // Appends kernel entry e's event if it has one (consuming edge/one-shot).
  bool report(Entry& e, File& f, std::vector<epoll_event>& out);
  void scan_kernel(std::vector<epoll_event>& out, size_t max, std::vector<const Entry*>& reported);
  // Whether adding `inner` under this one makes a loop or nests too deep.
  bool loops_with(Epoll* inner);
  int depth_below();

  base::UniqueFd host_epfd_;
  WaitQueue ready_;
  uint64_t next_id_ = 1;
  std::map<Key, std::shared_ptr<Entry>> entries_;
  std::map<uint64_t, std::weak_ptr<Entry>> host_ids_;
  std::list<std::weak_ptr<Entry>> kernel_;  // kernel entries in report order
  size_t kernel_count_ = 0;
  size_t host_regs_ = 0;  // registrations in the host epoll (nested: wake-only ones)
  bool turn_ = false;     // collect: which side goes first
};

}  // namespace kernel::fs
