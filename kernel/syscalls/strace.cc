#include "kernel/syscalls/strace.h"

#include <fmt/format.h>

#include <cstring>
#include <string_view>

namespace kernel::syscalls {
namespace {

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < 64; ++i) {
    unsigned char c = s[i];
    if (c == '"' || c == '\\')
      out += '\\', out += static_cast<char>(c);
    else if (c == '\n')
      out += "\\n";
    else if (c >= 32 && c < 127)
      out += static_cast<char>(c);
    else
      out += fmt::format("\\x{:02x}", c);
  }
  out += '"';
  if (s.size() > 64) out += "...";
  return out;
}

}  // namespace

std::string format_call(const SyscallInfo* info, uint64_t nr, const SyscallArgs& a,
                        mm::MemoryManager* mm) {
  std::string out = info ? info->name : fmt::format("syscall_{}", nr);
  out += '(';
  const char* fmt_s = info && info->handler ? info->args : "xxxxxx";
  for (size_t i = 0; fmt_s[i] && i < 6; ++i) {
    if (i) out += ", ";
    uint64_t v = a.a[i];
    switch (fmt_s[i]) {
      case 'd':  // an int (fds, flags...); sizes are printed with 'D'
        out += fmt::format("{}", static_cast<int32_t>(v));
        break;
      case 'D':
        out += fmt::format("{}", static_cast<int64_t>(v));
        break;
      case 'o':
        out += fmt::format("{:#o}", v);
        break;
      case 's': {
        auto s = mm ? mm->copy_in_string(v, 4096) : Result<std::string>(Errno(EFAULT));
        out += s.ok() ? quote(*s) : fmt::format("{:#x}", v);
        break;
      }
      default:
        out += fmt::format("{:#x}", v);
    }
  }
  out += ')';
  return out;
}

std::string format_result(const SyscallInfo* info, const Result<uint64_t>& r) {
  if (!r.ok())
    return fmt::format("= -1 {} ({})", strerrorname_np(r.error().code) ?: "?",
                       std::strerror(r.error().code));
  std::string_view name = info ? info->name : "";
  if (name == "mmap" || name == "brk") return fmt::format("= {:#x}", *r);
  return fmt::format("= {}", static_cast<int64_t>(*r));
}

}  // namespace kernel::syscalls
