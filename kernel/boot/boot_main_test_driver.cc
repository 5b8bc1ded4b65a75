// A private driver: `kernel_boot_driver ARGS...` == `pangaea boot ARGS...`,
// for testing the kernel before or without tools/main.cc.

#include <string>
#include <vector>

#include "base/log.h"
#include "kernel/boot/boot.h"

int main(int argc, char** argv) {
  (void)base::setup_logging("warn");  // as pangaea's main: stderr, warnings and up
  std::vector<std::string> args(argv + 1, argv + argc);
  return kernel::boot::boot_main(args);
}
