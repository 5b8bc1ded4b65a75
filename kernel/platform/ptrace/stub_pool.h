#pragma once
// StubPool: stubs kept for reuse, so that a guest fork or exec does not pay
// a host fork + exec + seccomp set-up of a new stub each time. When an
// address space ends, its stub (if it is whole: alive, one thread, stopped)
// is cleaned and parked here instead of killed; new_address_space takes a
// parked stub first and spawns one only when none is left.
//
// What cleaning leaves (see STUB.md, "Reuse"): no mapping below kGuestTop
// (one injected munmap of the whole guest range), the x87/SSE/AVX/PKRU state
// of a fresh stub (PTRACE_SETREGSET NT_X86_XSTATE with the image saved from
// the first stub), and the thread stopped at its int3 after the site. The
// stub has no writable host mapping a guest could leave data in: a new stub
// drops everything but its text at start-up. The general registers are set
// by the next run.
//
// Threads: the platform's thread only (ptrace rule).

#include <dirent.h>
#include <elf.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace kernel::platform {

struct ParkedStub {
  pid_t pid;
  uint64_t site;
  int listener;  // its seccomp listener, still registered with FastSyscalls (or -1)
  uint64_t vdso;  // AddressSpace::vdso
};

class StubPool {
 public:
  static constexpr size_t kMaxParked = 8;

  StubPool() = default;
  ~StubPool() {
    for (const ParkedStub& s : parked_) {
      ::kill(s.pid, SIGKILL);
      int st;
      while (::waitpid(s.pid, &st, __WALL) < 0 && errno == EINTR) {
      }
    }
  }
  StubPool(const StubPool&) = delete;
  StubPool& operator=(const StubPool&) = delete;

  std::optional<ParkedStub> take() {
    if (parked_.empty()) return std::nullopt;
    ParkedStub s = parked_.back();
    parked_.pop_back();
    return s;
  }
  // False when full: the caller kills the stub.
  bool park(const ParkedStub& s) {
    if (parked_.size() >= kMaxParked) return false;
    parked_.push_back(s);
    return true;
  }
  size_t parked() const { return parked_.size(); }

  // The extended FP state of a fresh stub, saved once (the first stub's).
  void save_fresh_xstate(pid_t pid) {
    if (!fresh_xstate_.empty()) return;
    std::vector<uint8_t> buf(kXstateMax);
    iovec iov{buf.data(), buf.size()};
    if (::syscall(SYS_ptrace, PTRACE_GETREGSET, pid, NT_X86_XSTATE, &iov) < 0) return;
    buf.resize(iov.iov_len);
    fresh_xstate_ = std::move(buf);
  }
  // Puts the fresh-stub FP state back into `pid`; false if it cannot.
  bool reset_xstate(pid_t pid) {
    if (fresh_xstate_.empty()) return false;
    iovec iov{fresh_xstate_.data(), fresh_xstate_.size()};
    return ::syscall(SYS_ptrace, PTRACE_SETREGSET, pid, NT_X86_XSTATE, &iov) == 0;
  }

 private:
  static constexpr size_t kXstateMax = 16384;
  std::vector<ParkedStub> parked_;
  std::vector<uint8_t> fresh_xstate_;
};

struct HostMapping {
  uint64_t start, end;
  bool writable;
  std::string name;  // "[vdso]", a path, or ""
};

// Every mapping of host process `pid` (/proc/PID/maps).
inline std::vector<HostMapping> host_mappings(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/maps", pid);
  std::vector<HostMapping> out;
  FILE* f = std::fopen(path, "re");
  if (!f) return out;
  char line[512];
  while (std::fgets(line, sizeof(line), f)) {
    char* dash = nullptr;
    HostMapping m;
    m.start = std::strtoull(line, &dash, 16);
    char* sp = nullptr;
    m.end = std::strtoull(dash + 1, &sp, 16);
    m.writable = sp[1] != 0 && sp[2] == 'w';
    // The name is the sixth field, after perms, offset, dev and inode.
    char* p = sp;
    for (int field = 0; field < 4 && p; ++field) p = std::strchr(p + 1, ' ');
    if (p) {
      while (*p == ' ') ++p;
      m.name = p;
      while (!m.name.empty() && (m.name.back() == '\n' || m.name.back() == ' ')) m.name.pop_back();
    }
    out.push_back(std::move(m));
  }
  std::fclose(f);
  return out;
}

// The [start, end) of the host mapping of `pid` that holds `addr`, or nullopt.
inline std::optional<std::pair<uint64_t, uint64_t>> host_mapping_of(pid_t pid, uint64_t addr) {
  for (const HostMapping& m : host_mappings(pid))
    if (m.start <= addr && addr < m.end) return std::make_pair(m.start, m.end);
  return std::nullopt;
}

// How many threads host process `pid` has (/proc/PID/task), or -1.
inline int host_thread_count(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/task", pid);
  DIR* d = ::opendir(path);
  if (!d) return -1;
  int n = 0;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n;
}

}  // namespace kernel::platform
