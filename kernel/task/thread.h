#pragma once
// Thread: one guest thread (Linux's task). Everything a thread has of its
// own lives here: registers and the platform context that runs them, the
// signal mask and thread-directed pending signals, the alternate stack, the
// clear-child-tid address and the state of a blocking syscall. What the
// threads of a process share (memory, fds, cwd, signal actions,
// process-directed pending signals) lives in its Process.
//
// A thread that exits is marked kDead at once and leaves the kernel's
// thread table; its object is freed later, between scheduler runs, because
// the exit usually happens inside its own run.
//
// Threads: the kernel thread only.

#include <poll.h>
#include <signal.h>

#include <array>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "kernel/platform/platform.h"

namespace kernel::task {

struct Process;

// A futex's identity, as Linux's: {address space, address + 1} for private
// memory (and every FUTEX_PRIVATE_FLAG call), {0, frame * 4096 + offset + 1}
// for a MAP_SHARED page, so processes sharing the page share the futex. A
// private page's frame is no key: copy-on-write moves it to another frame.
using FutexKey = std::pair<uint64_t, uint64_t>;

struct Thread {
  enum class State { kRunnable, kBlocked, kDead };
  enum class Wait { kNone, kChild, kVforkChild, kIo, kSignal, kSleep, kFutex, kHostFd };

  int tid = 0;
  Process* process = nullptr;
  State state = State::kRunnable;
  Wait waiting = Wait::kNone;
  // A syscall stopped at entry that must be (re)dispatched before guest code
  // runs again: set at the stop, cleared when it completes.
  bool in_syscall = false;
  // sched_yield or a spent time slice: give the other threads a turn.
  bool yield = false;

  // The context that runs this thread: its address space's main context
  // (the process's first thread) or `own_context` (a CLONE_THREAD thread).
  platform::Context* context = nullptr;
  std::unique_ptr<platform::Context> own_context;
  platform::Registers regs{};

  uint64_t sigmask = 0;
  uint64_t pending = 0;  // thread-directed signals (tgkill, faults), not yet delivered
  std::array<siginfo_t, 65> pending_info{};
  // sigsuspend's mask is temporary: the frame saves the one to go back to.
  uint64_t saved_sigmask = 0;
  bool has_saved_sigmask = false;
  // A blocking syscall was cut short by a signal with a handler: finish it
  // with EINTR (or restart it for SA_RESTART) before the handler runs.
  bool interrupted = false;
  struct {
    uint64_t ss_sp = 0;
    int ss_flags = SS_DISABLE;
    uint64_t ss_size = 0;
  } altstack;
  // rt_sigtimedwait in progress: the signals it waits for (0: none). A
  // signal in this set wakes the thread even while it blocks it.
  uint64_t sigwait_set = 0;
  // set_robust_list: the guest address of the list head (0: none), walked
  // when the thread exits or execs (robust mutexes of a dead owner).
  uint64_t robust_list = 0;
  // CLONE_CHILD_CLEARTID / set_tid_address: zeroed and futex-woken at exit.
  uint64_t clear_child_tid = 0;

  // CLOCK_MONOTONIC deadline in ns (0: none): a blocked thread whose sleep
  // deadline passes is woken (nanosleep, poll and futex timeouts).
  uint64_t sleep_deadline = 0;
  // poll/select's own timeout (0: none) while sleep_deadline may be an
  // earlier look at host fds polled beside pipes. Cleared with it.
  uint64_t poll_deadline = 0;
  // FUTEX_WAIT in progress: the futex's key (FutexKey; {0, 0}: none) and
  // whether a wake came.
  FutexKey futex_key{0, 0};
  bool futex_woken = false;
  // Waiting for host fds to become ready (a host socket, the console, poll
  // of host fds only): the scheduler polls them between runs.
  std::vector<pollfd> wait_host;
  bool connect_pending = false;  // a blocking connect() is waiting for the host

  bool dead() const { return state == State::kDead; }
  // Runnable and its process not stopped (job control).
  bool runnable() const;
};

}  // namespace kernel::task
