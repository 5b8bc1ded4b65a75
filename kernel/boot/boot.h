#pragma once
// boot(): what `pangaea boot` does once its arguments are parsed: a frame
// store for mem=, the kernel, init; returns init's exit status.

#include "base/result.h"
#include "kernel/boot/boot_options.h"

namespace kernel::boot {

// Runs the guest to the end. Returns the exit status for the host process:
// init's exit status (128+signal when killed), 0 after a guest power-off.
base::StatusOr<int> boot(const BootOptions& options);

// `pangaea boot` in one call: parses `args`, prints errors, returns the exit
// status (2 for bad arguments). Shared by tools/boot_command.cc and the
// kernel's test driver.
int boot_main(const std::vector<std::string>& args);

}  // namespace kernel::boot
