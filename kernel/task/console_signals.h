// The console's keyboard signals. When the console's input is a host
// terminal, Ctrl-C, Ctrl-\ and Ctrl-Z there make the host's line discipline
// send SIGINT, SIGQUIT and SIGTSTP to the terminal's foreground process
// group, which is the kernel's process. Left alone they would end the whole
// guest (and `pangaea run`). ConsoleSignals catches them while the guest runs
// and hands them to the kernel, which raises them in the guest's foreground
// process group of the console (TIOCSPGRP), as a UML console passes ^C to
// the guest.
//
// The handler only records the signal and writes to an eventfd, so the
// scheduler wakes from its poll whichever thread of the process the host
// delivered the signal to. SA_RESTART keeps other threads' host calls (the
// DSM's, libfabric's) undisturbed.
#pragma once

#include <cstdint>

#include "base/unique_fd.h"

namespace kernel::task {

class ConsoleSignals {
 public:
  // Catches the three signals if `console_in` is a terminal (else does
  // nothing); the previous actions come back when destroyed. One at a time
  // per process.
  explicit ConsoleSignals(int console_in);
  ~ConsoleSignals();
  ConsoleSignals(const ConsoleSignals&) = delete;
  ConsoleSignals& operator=(const ConsoleSignals&) = delete;

  bool active() const { return active_; }
  // Readable while a signal waits (for the scheduler's poll); -1 if inactive.
  int event_fd() const { return event_.get(); }
  // The signals caught since the last call (bit s set for signal s).
  uint64_t take();
  // Whether one waits (async-signal-safe flag; cheap).
  static bool pending();

 private:
  bool active_ = false;
  base::UniqueFd event_;
};

}  // namespace kernel::task
