#pragma once
// `pangaea boot` arguments: User Mode Linux's kernel command line (mem=,
// umid=, root=, rootfstype=hostfs, rootflags=DIR, hostfs=, init=, con0=...)
// plus pangaea's own --options, and an optional "-- command...".
//
// As Linux does, parameters the kernel does not know go to init: "k=v" words
// into its environment, bare words into its argv. One difference: without
// "--" and without init=, the first bare word that is no known kernel word
// starts the command to run as init (`pangaea boot root=... sh -c 'x'`).

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace kernel::boot {

struct BootOptions {
  uint64_t memory_bytes = 256ull << 20;  // mem=
  std::string umid;                      // umid=
  std::string root_dir;                  // rootflags= (or hostfs=) with rootfstype=hostfs
  bool read_only = false;                // ro (accepted; not enforced yet)
  std::string init;                      // init=
  std::vector<std::string> init_argv;    // after init's own name
  std::vector<std::string> init_env;     // unknown k=v parameters
  int console_in = 0, console_out = 1, console_err = 2;
  bool strace = false;
  int local_nodes = 0;        // --local-nodes N
  std::string config_file;    // --config F
  std::string syscall_table;  // --syscall-table[=FILE]: "-" for stdout
  bool print_syscall_table = false;
  std::vector<std::string> notes;  // accepted but not yet supported, for the user
};

base::StatusOr<BootOptions> parse_boot_args(const std::vector<std::string>& args);

}  // namespace kernel::boot
