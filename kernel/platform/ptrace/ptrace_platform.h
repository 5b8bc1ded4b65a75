#pragma once
// The ptrace platform: each AddressSpace is a stub process (stub.c) traced by
// the kernel thread that created it; every guest syscall stops the thread at
// the stub's seccomp filter (SECCOMP_RET_TRACE), except the id syscalls that
// FastSyscalls answers from a helper thread (seccomp user notifications);
// memory changes are syscalls injected at the stub's site.
// See STUB.md for the stub's life cycle and seccomp filter.
//
// Threads: all calls from the thread that called create() (ptrace rule);
// time slices add one helper thread (preempt.h), fast syscalls another
// (fast_syscalls.h).

#include <memory>

#include "base/unique_fd.h"
#include "kernel/platform/platform.h"
#include "kernel/platform/ptrace/fast_syscalls.h"
#include "kernel/platform/ptrace/preempt.h"
#include "kernel/platform/ptrace/stub_pool.h"

namespace kernel::platform {

class PtracePlatform : public Platform {
 public:
  // `frames_fd` is the frame memfd every address space maps from; it must
  // outlive the platform. Without `fast_syscalls` every guest syscall stops
  // in the tracer (the kernel's --strace sees them all).
  static Result<std::unique_ptr<PtracePlatform>> create(int frames_fd, bool fast_syscalls = true);

  Result<std::unique_ptr<AddressSpace>> new_address_space() override;
  // Made on first use: the helper thread exists only once a guest has
  // threads that compete for the kernel.
  void set_time_slice(uint64_t ns) override;

 private:
  PtracePlatform(int frames_fd, base::UniqueFd stub_exe, std::shared_ptr<FastSyscalls> fast)
      : frames_fd_(frames_fd), stub_exe_(std::move(stub_exe)), fast_(std::move(fast)) {}
  int frames_fd_;
  base::UniqueFd stub_exe_;  // a sealed memfd holding the stub ELF
  std::shared_ptr<FastSyscalls> fast_;  // null: no fast syscalls
  std::unique_ptr<Preempter> preempter_;
  // Parked stubs for reuse; address spaces hold it too, to park theirs.
  std::shared_ptr<StubPool> pool_ = std::make_shared<StubPool>();
};

// For tests: inject an arbitrary host syscall into an address space's stub.
// Returns the raw result (a negative errno on failure).
Result<int64_t> ptrace_inject_for_test(AddressSpace& as, long nr, long a0 = 0, long a1 = 0,
                                       long a2 = 0, long a3 = 0, long a4 = 0, long a5 = 0);
// For tests: the address of the stub's injection site (its syscall
// instruction).
uint64_t ptrace_site_for_test(AddressSpace& as);

}  // namespace kernel::platform
