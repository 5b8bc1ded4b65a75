#pragma once
// Process: one guest process (a thread group). It owns its host address
// space (a stub), its memory, its fds and its threads (thread.h), which share
// all of it. Zombies keep only their wait status until reaped.
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
#include "kernel/task/thread.h"

namespace kernel::task {

// A guest struct sigaction as rt_sigaction passes it (x86-64 layout).
struct GuestSigaction {
  uint64_t handler = 0;
  uint64_t flags = 0;
  uint64_t restorer = 0;
  uint64_t mask = 0;
};

struct Process {
  // kLive while any of its threads lives; a zombie keeps only its wait
  // status until its parent reaps it.
  enum class State { kLive, kZombie };

  int pid = 0;  // also the thread group id and its first thread's tid
  int ppid = 0;
  int pgid = 0;
  int sid = 0;
  State state = State::kLive;

  // Threads, the first one first; dead ones until the scheduler frees them.
  std::vector<std::unique_ptr<Thread>> threads;

  std::unique_ptr<platform::AddressSpace> as;
  std::unique_ptr<mm::MemoryManager> mm;
  fs::FdTable fds;
  std::string cwd = "/";
  std::string exe;  // guest path of the running program
  std::string comm;
  std::vector<std::string> argv;  // as given to the running program (/proc/PID/cmdline)
  mode_t umask = 022;

  std::array<GuestSigaction, 65> sigactions{};
  // Process-directed signals (kill), taken by whichever thread does not
  // block them; thread-directed ones are in Thread::pending.
  uint64_t pending = 0;
  std::array<siginfo_t, 65> pending_info{};
  // CLOCK_MONOTONIC deadlines in ns (0: none): the alarm raises SIGALRM and
  // re-arms with the interval (alarm, setitimer).
  uint64_t alarm_deadline = 0;
  uint64_t alarm_interval = 0;
  // Job control: a stopped process's threads are skipped by the scheduler
  // whatever their state; its parent's wait4(WUNTRACED) reports the stop once.
  bool stopped = false;
  int stop_signal = 0;
  bool stop_reported = true;
  int vfork_parent = 0;  // pid of a parent blocked in vfork until we exec or exit

  int wait_status = 0;  // for zombies, in wait(2) encoding

  bool zombie() const { return state == State::kZombie; }
  // The live threads, in creation order.
  std::vector<Thread*> live_threads() const {
    std::vector<Thread*> out;
    for (auto& t : threads)
      if (!t->dead()) out.push_back(t.get());
    return out;
  }
};

inline bool Thread::runnable() const { return state == State::kRunnable && !process->stopped; }

}  // namespace kernel::task
