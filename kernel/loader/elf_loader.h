#pragma once
// The program loader: ELF64 x86-64 static, static-pie and dynamic
// executables (with their PT_INTERP interpreter), and "#!" scripts, laid out as Linux's binfmt_elf
// does (no randomisation): segments at their addresses (static-pie at 0x555555554000), brk after
// the highest segment, an 8 MiB stack under mm::kStackTop holding argc, argv, envp and the
// auxiliary vector (see STACK.md).
//
// Anything that is not a well-formed image of this kind is ENOEXEC; the
// loader never trusts a size or offset from the file without checking it
// against the file's length.

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "kernel/mm/memory_manager.h"

namespace kernel::loader {

using base::Errno;
using base::Result;

struct ExecArgs {
  std::vector<std::string> argv;
  std::vector<std::string> envp;
  std::string execfn;  // AT_EXECFN: the path given to execve
  uint64_t vdso = 0;   // AT_SYSINFO_EHDR (platform::AddressSpace::vdso); 0: none
};

struct LoadedImage {
  uint64_t entry = 0;
  uint64_t stack_pointer = 0;
  uint64_t brk = 0;
};

inline constexpr uint64_t kPieBase = 0x555555554000;
inline constexpr size_t kMaxArgBytes = 2u << 20;  // argv + envp strings (E2BIG beyond)

// The PT_INTERP path of a dynamic executable, "" for a static one, ENOEXEC
// for a malformed image.
Result<std::string> elf_interpreter(std::span<const uint8_t> image);

// Loads `image` into the (empty) `mm` and builds the initial stack. A
// dynamic executable needs its interpreter's image in `interp` (loaded
// anywhere free; AT_BASE says where, and execution starts there).
Result<LoadedImage> load_elf(mm::MemoryManager& mm, std::span<const uint8_t> image,
                             const ExecArgs& args, std::span<const uint8_t> interp = {});

// "#!interpreter [one argument]" from the first line (at most 256 bytes, as
// Linux). ENOEXEC when `image` is not a script or has no interpreter.
Result<std::pair<std::string, std::string>> parse_shebang(std::span<const uint8_t> image);

}  // namespace kernel::loader
