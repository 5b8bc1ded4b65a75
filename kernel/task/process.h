#pragma once
// Process: one guest process with one thread (threads come later). It owns
// its host address space (a stub), its memory, its fds and its saved
// registers. Zombies keep only their wait status until reaped.
//
// Threads: the kernel thread only.

#include <signal.h>
#include <sys/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernel/fs/fd_table.h"
#include "kernel/mm/memory_manager.h"
#include "kernel/platform/platform.h"

namespace kernel::task {

// A guest struct sigaction as rt_sigaction passes it (x86-64 layout).
struct GuestSigaction {
  uint64_t handler = 0;
  uint64_t flags = 0;
  uint64_t restorer = 0;
  uint64_t mask = 0;
};

struct Process {
  enum class State { kRunnable, kBlocked, kZombie };
  enum class Wait { kNone, kChild, kVforkChild, kIo, kSignal, kSleep, kFutex, kHostFd };

  int pid = 0;
  int ppid = 0;
  int pgid = 0;
  int sid = 0;
  State state = State::kRunnable;
  Wait waiting = Wait::kNone;
  // A syscall stopped at entry that must be (re)dispatched before guest code
  // runs again: set at the stop, cleared when it completes.
  bool in_syscall = false;

  std::unique_ptr<platform::AddressSpace> as;
  std::unique_ptr<mm::MemoryManager> mm;
  platform::Registers regs{};
  fs::FdTable fds;
  std::string cwd = "/";
  std::string exe;  // guest path of the running program
  std::string comm;
  std::vector<std::string> argv;  // as given to the running program (/proc/PID/cmdline)
  mode_t umask = 022;

  std::array<GuestSigaction, 65> sigactions{};
  uint64_t sigmask = 0;
  uint64_t pending = 0;  // signals raised, not yet delivered
  std::array<siginfo_t, 65> pending_info{};
  // sigsuspend's mask is temporary: the frame saves the one to go back to.
  uint64_t saved_sigmask = 0;
  bool has_saved_sigmask = false;
  // A blocking syscall was cut short by a signal with a handler: finish it
  // with EINTR (or restart it for SA_RESTART) before the handler runs.
  bool interrupted = false;
  // CLOCK_MONOTONIC deadlines in ns (0: none). A blocked process whose
  // sleep deadline passes is woken (nanosleep, poll timeouts); the alarm
  // raises SIGALRM and re-arms with the interval (alarm, setitimer).
  uint64_t sleep_deadline = 0;
  uint64_t alarm_deadline = 0;
  uint64_t alarm_interval = 0;
  // FUTEX_WAIT in progress: the futex's key (frame * 4096 + offset, so
  // processes sharing a MAP_SHARED page share it) and whether a wake came.
  uint64_t futex_key = 0;
  // Waiting for a (non-blocking) host fd to become ready: a host socket.
  int wait_host_fd = -1;
  short wait_host_events = 0;
  bool connect_pending = false;
  // Job control: a stopped process is skipped by the scheduler whatever its
  // state; its parent's wait4(WUNTRACED) reports the stop once.
  bool stopped = false;
  int stop_signal = 0;
  bool stop_reported = true;
  bool runnable() const {
    return state == State::kRunnable && !stopped;
  }  // a blocking connect() is waiting for the host
  bool futex_woken = false;
  struct {
    uint64_t ss_sp = 0;
    int ss_flags = SS_DISABLE;
    uint64_t ss_size = 0;
  } altstack;
  uint64_t clear_child_tid = 0;
  int vfork_parent = 0;  // pid of a parent blocked in vfork until we exec or exit

  int wait_status = 0;  // for zombies, in wait(2) encoding
};

}  // namespace kernel::task
