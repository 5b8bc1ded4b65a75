#pragma once
// The platform boundary (DESIGN.md "Platform"): how the kernel runs guest
// code. Nothing above this interface knows about ptrace; another mechanism
// (seccomp trap + shared memory) can sit beside the ptrace one later.
//
// An AddressSpace is one guest memory context on the host; it maps ranges of
// the frame memfd given to Platform::create. A Context runs guest code with
// given registers until the guest makes a syscall, faults, gets a signal or
// dies.
//
// Threads: a Platform and everything it creates must be used from the one
// host thread that created it (ptrace binds a tracee to the thread that
// attached it).

#include <sys/user.h>

#include <cstdint>
#include <memory>

#include "base/result.h"
#include "base/unique_fd.h"

namespace kernel::platform {

using base::Errno;
using base::Result;

// The guest's general registers, in the x86-64 user_regs_struct layout.
using Registers = struct user_regs_struct;
// The x87/SSE state in fxsave layout (512 bytes), saved across signal handlers.
using FpRegisters = struct user_fpregs_struct;

// Guest addresses live in [kGuestMin, kGuestTop); the platform keeps its own
// host mappings (the stub's text, stack, vdso) above kGuestTop.
inline constexpr uint64_t kGuestMin = 0x10000;
inline constexpr uint64_t kGuestTop = 0x7f0000000000;

struct SwitchResult {
  // kPreempted: the time slice (Platform::set_time_slice) ran out; the
  // registers are those of the interrupted guest code, to resume as they are.
  enum class Kind { kSyscall, kFault, kSignal, kExit, kPreempted };
  Kind kind;
  // kFault: the faulting address. kSignal: the signal number. kExit: the
  // host wait status of the stub (it died, e.g. killed by the host).
  uint64_t fault_addr = 0;
  int signo = 0;
  int wait_status = 0;
  // kSyscall: false when the guest used a non-x86-64 entry (int $0x80).
  bool native_abi = true;
};

// What a few syscalls of a thread only read (getpid, gettid, getppid,
// getpgrp, getuid, geteuid, getgid, getegid), as the kernel answers them. A
// platform may answer those syscalls from these values without stopping the
// thread (the ptrace platform does, through seccomp user notifications), so
// the kernel gives them before each switch_to; they must not change while the
// thread runs (only a stopped thread's syscalls, or other threads while it is
// stopped, change them).
struct ThreadIds {
  int64_t pid = 0, tid = 0, ppid = 0, pgrp = 0;
  int64_t uid = 0, euid = 0, gid = 0, egid = 0;
  bool operator==(const ThreadIds&) const = default;
};

class Context {
 public:
  virtual ~Context() = default;
  // The values the platform may answer the thread's id syscalls with (see
  // ThreadIds); a platform that stops on every syscall ignores them.
  virtual void set_ids(const ThreadIds& ids) { (void)ids; }
  // Runs guest code from `regs` until the next event; `regs` holds the
  // registers at the event. For kSyscall, the syscall number is in orig_rax
  // and the result goes in rax before the next switch.
  virtual Result<SwitchResult> switch_to(Registers& regs) = 0;
  // The floating-point state of the stopped thread.
  virtual Result<void> get_fpregs(FpRegisters& fp) = 0;
  virtual Result<void> set_fpregs(const FpRegisters& fp) = 0;
};

class AddressSpace {
 public:
  virtual ~AddressSpace() = default;
  // Maps [vaddr, vaddr+len) to the frame memfd at `offset` (MAP_SHARED|MAP_FIXED).
  // `populate` adds MAP_POPULATE: the host fills the page table now, which
  // is cheap only for frames whose host pages exist already (the caller
  // asks the frame store, dsm::FrameStore::host_prefault_ok, first).
  virtual Result<void> map(uint64_t vaddr, uint64_t len, int prot, uint64_t offset,
                           bool populate) = 0;
  virtual Result<void> unmap(uint64_t vaddr, uint64_t len) = 0;
  virtual Result<void> protect(uint64_t vaddr, uint64_t len, int prot) = 0;
  // A userfaultfd of this address space's memory, for the DSM
  // (dsm::FrameStore::attach / resolve_fault): created inside the address
  // space and handed to the kernel. The caller does the UFFDIO_API handshake.
  virtual Result<base::UniqueFd> create_userfaultfd() = 0;
  // The context of the address space's first thread. It lives as long as the
  // address space (when that guest thread exits first, it stays parked).
  virtual Context& main_context() = 0;
  // A new thread of this address space (a guest thread, CLONE_THREAD): it
  // shares the memory and runs guest code through its own Context, from the
  // registers given to its first switch_to. Its FP state is undefined until
  // set_fpregs. Destroying the Context ends the thread; it must not outlive
  // the address space.
  virtual Result<std::unique_ptr<Context>> new_thread() = 0;
  // Ends the address space and every thread in it now.
  virtual void kill() = 0;
  // The address of a vDSO (an ELF image of time functions that need no
  // syscall) mapped read-only above kGuestTop for guest code to call, for
  // AT_SYSINFO_EHDR; 0: none.
  virtual uint64_t vdso() const { return 0; }
};

class Platform {
 public:
  virtual ~Platform() = default;
  virtual Result<std::unique_ptr<AddressSpace>> new_address_space() = 0;
  // Guest code that runs longer than `ns` between two events is stopped and
  // reported as kPreempted (0, the default: never). The kernel sets a slice
  // while other guest threads wait to run.
  virtual void set_time_slice(uint64_t ns) { (void)ns; }
};

}  // namespace kernel::platform
