#pragma once
// boot(): what `pangaea boot` does once its arguments are parsed: a frame
// store for mem=, the kernel, init; returns init's exit status.

#include <functional>

#include "base/result.h"
#include "dsm/frame_store.h"
#include "kernel/boot/boot_options.h"

namespace kernel::boot {

// Runs the guest to the end. Returns the exit status for the host process:
// init's exit status (128+signal when killed), 0 after a guest power-off.
base::StatusOr<int> boot(const BootOptions& options);
// The same with guest RAM in `frames` (e.g. a dsm::Region's frame store)
// instead of a local store of mem= size.
base::StatusOr<int> boot(const BootOptions& options, dsm::FrameStore& frames);

// What boots when --config/--local-nodes ask for a cluster: set by tools/
// (which joins the cluster and calls boot(options, frames)); the kernel
// itself links no fabric.
using ClusterBoot = std::function<base::StatusOr<int>(const BootOptions&)>;

// `pangaea boot` in one call: parses `args`, prints errors, returns the exit
// status (2 for bad arguments). Shared by tools/boot_command.cc and the
// kernel's test driver.
int boot_main(const std::vector<std::string>& args, const ClusterBoot& cluster = {});

}  // namespace kernel::boot
