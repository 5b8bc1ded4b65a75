#pragma once
// Kernel: the guest kernel instance. Owns the platform, the frame allocator,
// the root filesystem and the process table, and runs the scheduler: one
// host thread runs every guest thread in turn (each until it blocks, exits,
// yields or spends its time slice at a syscall), which also satisfies
// ptrace's rule that all calls on a tracee come from the thread that
// attached it.
//
// Threads: one. Everything here runs on the thread that called run().

#include <poll.h>
#include <time.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "dsm/frame_store.h"
#include "kernel/fs/root.h"
#include "kernel/fs/wait_queue.h"
#include "kernel/mm/frame_allocator.h"
#include "kernel/platform/platform.h"
#include "kernel/task/console_signals.h"
#include "kernel/task/process.h"

namespace kernel::task {

using base::Errno;
using base::Result;

struct KernelConfig {
  std::string root_dir = "/";  // host directory that is the guest's /
  std::string hostname = "pangaea";
  bool strace = false;
  int console_in = 0;  // host fds of the console (con0=fd:IN,fd:OUT)
  int console_out = 1;
  int console_err = 2;
  int strace_fd = 2;
};

class Kernel {
 public:
  static base::StatusOr<std::unique_ptr<Kernel>> Create(const KernelConfig& config,
                                                        dsm::FrameStore& store);
  ~Kernel();

  // Starts `init` as pid 1 and runs the guest until init exits or the guest
  // powers off. Returns init's exit status (128+signal when killed), or 0 on
  // power off.
  base::StatusOr<int> run(const std::string& init, std::vector<std::string> argv,
                          std::vector<std::string> envp);

  // --- for syscall handlers ---
  const KernelConfig& config() const { return config_; }
  const fs::Root& root() const { return root_; }
  std::string& hostname() { return hostname_; }
  const mm::FrameAllocator& frames() const { return alloc_; }
  // CLOCK_MONOTONIC now, in ns (the clock of sleep and alarm deadlines).
  static uint64_t now_ns();
  // Seconds since the guest booted (/proc/uptime).
  double uptime() const;
  Process* find(int pid);
  // The live thread `tid` (any process), or null.
  Thread* find_thread(int tid);
  // The thread whose syscall is being dispatched.
  Thread& current() { return *current_; }
  // The children of `pid` (zombies included); every process for -1.
  std::vector<Process*> children_of(int pid);
  // Replaces the program of t's process; the other threads end and t becomes
  // the process's only thread (tid = pid). On success t's registers are the
  // new program's.
  Result<void> execve(Thread& t, const std::string& path, std::vector<std::string> argv,
                      std::vector<std::string> envp);
  // fork/vfork/clone: with CLONE_THREAD a new thread of t's process, else a
  // new process with a copy of the memory. Returns the new tid/pid.
  Result<int> clone(Thread& t, uint64_t flags, uint64_t new_sp, uint64_t parent_tid,
                    uint64_t child_tid, uint64_t tls);
  // exit(2): ends thread t; the last thread's exit ends its process with
  // `wait_status`.
  void exit_thread(Thread& t, int wait_status);
  // exit_group(2), fatal signals: ends p and all its threads with
  // `wait_status` (wait(2) encoding).
  void exit_process(Process& p, int wait_status);
  // Removes a zombie from the table.
  void reap(int pid);
  void power_off();
  // Blocks the current thread (which belongs to p) until `q` is notified;
  // the caller returns kRestart.
  void block_on(Process& p, fs::WaitQueue& q);
  // Blocks the current thread until host fd `fd` has `events`
  // (POLLIN/POLLOUT); the caller returns kRestart. The scheduler polls these
  // fds between runs.
  void block_on_host(Process& p, int fd, short events);
  // The same for several host fds (poll of host fds only); with
  // `deadline_ns` (CLOCK_MONOTONIC, 0: none) it also wakes then.
  void block_on_host(Process& p, std::vector<pollfd> fds, uint64_t deadline_ns);
  // The same, also woken when `q` is notified (epoll_wait: host fds and
  // kernel wait queues at once).
  void block_on_host(Process& p, std::vector<pollfd> fds, uint64_t deadline_ns, fs::WaitQueue& q);
  // The guest's foreground process group of the console (TIOCGPGRP /
  // TIOCSPGRP); keyboard signals at a terminal console go to it.
  int console_pgrp() const { return console_pgrp_; }
  void set_console_pgrp(int pgid) { console_pgrp_ = pgid; }
  // Whether process group `pgid` has a live member.
  bool group_exists(int pgid);
  // Raises `sig` for process p (`info`: its siginfo, si_signo filled in
  // here). An ignored signal is dropped; a default action that terminates
  // ends p now (unless every thread blocks it); a handler makes it pending
  // and interrupts a blocking syscall of a thread that does not block it.
  // Stop signals stop p, SIGCONT continues it.
  void signal(Process& p, int sig, const siginfo_t* info = nullptr);
  // The same, directed at thread t (tgkill, faults): only t takes it.
  void signal_thread(Thread& t, int sig, const siginfo_t* info = nullptr);
  // Futexes, keyed by physical address (frame and offset). wait blocks t
  // (the caller returns kRestart) unless the word differs from `val`; wake
  // wakes up to `n` waiters whose bitset matches and returns how many.
  // `priv`: FUTEX_PRIVATE_FLAG (the key is the address space's even on a
  // shared page).
  Result<uint64_t> futex_wait(Thread& t, uint64_t uaddr, uint32_t val, uint32_t bitset,
                              uint64_t deadline, bool priv);
  Result<uint64_t> futex_wake(Process& p, uint64_t uaddr, uint32_t n, uint32_t bitset, bool priv);
  // FUTEX_REQUEUE/CMP_REQUEUE: wakes up to `n`, moves up to `n2` more
  // waiters to `uaddr2`; with `check`, only if the word still is `val`.
  Result<uint64_t> futex_requeue(Process& p, uint64_t uaddr, uint64_t uaddr2, uint32_t n,
                                 uint32_t n2, bool check, uint32_t val, bool priv);
  void futex_forget(Thread& t);
  // Job control: stops p (SIGSTOP, SIGTSTP...) and tells its parent.
  void stop_process(Process& p, int sig);
  // A synchronous fault signal for t: cannot be blocked or ignored.
  void force_signal(Thread& t, int sig, const siginfo_t& info);
  // Resolves a guest path (relative to p's cwd unless absolute).
  std::string guest_path(const Process& p, const std::string& path) const;

 private:
  Kernel(KernelConfig config, dsm::FrameStore& store, fs::Root root, uint8_t* frames,
         std::unique_ptr<platform::Platform> platform)
      : config_(std::move(config)),
        store_(store),
        root_(std::move(root)),
        frames_(frames),
        alloc_(store.frame_count()),
        platform_(std::move(platform)) {}
  void run_thread(Thread& t);
  // Makes a Thread of p and enters it in the thread table.
  Thread& add_thread(Process& p, int tid);
  // Marks t dead and takes it out of the thread table (freed later).
  void end_thread(Thread& t);
  // Frees dead threads (between scheduler runs).
  void free_dead_threads();
  // Wakes one blocked thread of p that can take `sig` (a process signal).
  void interrupt_for(Process& p, int sig);
  // What signal() and signal_thread() share: SIGKILL, SIGCONT, ignored
  // signals and default actions (`takeable`: a target thread does not block
  // it, so a fatal default ends p now). False: the caller makes it pending.
  bool act_on_signal(Process& p, int sig, bool takeable);
  void interrupt(Thread& t);
  // Fires due alarms and wakes sleepers; returns the next deadline (0: none).
  uint64_t run_timers();
  // The earliest timer deadline as the scheduler last saw it (0: none).
  uint64_t next_timer_ns_ = 0;
  // Wakes processes whose host fds are ready; waits up to `timeout_ms`
  // (-1: forever) when nothing else can run. Returns true if one woke.
  bool poll_host_fds(int timeout_ms);
  void deliver_signals(Thread& t);
  // Raises the keyboard signals caught at the console in its foreground group.
  void forward_console_signals();
  void finish_interrupted_syscall(Thread& t);
  void dispatch(Thread& t);
  Result<std::unique_ptr<Process>> new_process();
  Result<void> load_program(Thread& t, const std::string& path, std::vector<std::string> argv,
                            std::vector<std::string> envp, int depth);

  KernelConfig config_;
  dsm::FrameStore& store_;
  fs::Root root_;
  uint8_t* frames_;  // the kernel's mapping of store_.memfd()
  mm::FrameAllocator alloc_;
  std::unique_ptr<platform::Platform> platform_;
  std::map<int, std::unique_ptr<Process>> procs_;
  std::map<int, Thread*> threads_;  // live threads by tid: the run queue
  Thread* current_ = nullptr;
  bool dead_threads_ = false;
  int next_pid_ = 1;
  bool powered_off_ = false;
  int console_pgrp_ = 1;                       // init's group until the guest sets one
  ConsoleSignals* console_signals_ = nullptr;  // while run() runs
  std::string hostname_;
  std::multimap<FutexKey, std::pair<int, uint32_t>> futex_waiters_;  // key -> (tid, bitset)
  struct timespec boot_time_ = {};
};

}  // namespace kernel::task
