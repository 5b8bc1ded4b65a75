#include "kernel/platform/ptrace/ptrace_platform.h"

#include <gtest/gtest.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "base/unique_fd.h"

namespace kernel::platform {
namespace {

constexpr uint64_t kCode = 0x10000;
constexpr uint64_t kData = 0x20000;

class PtracePlatformTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fd_.reset(memfd_create("test-frames", MFD_CLOEXEC));
    ASSERT_TRUE(fd_.valid());
    ASSERT_EQ(ftruncate(fd_.get(), 4 * 4096), 0);
    mem_ = static_cast<uint8_t*>(
        mmap(nullptr, 4 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0));
    ASSERT_NE(mem_, MAP_FAILED);
    auto p = PtracePlatform::create(fd_.get());
    ASSERT_TRUE(p.ok());
    platform_ = std::move(*p);
    auto as = platform_->new_address_space();
    ASSERT_TRUE(as.ok()) << strerror(as.error().code);
    as_ = std::move(*as);
  }
  void TearDown() override {
    as_.reset();
    munmap(mem_, 4 * 4096);
  }
  // Puts `code` at the start of frame 0 and maps it at kCode, read+exec.
  void load_code(std::initializer_list<uint8_t> code) {
    std::copy(code.begin(), code.end(), mem_);
    ASSERT_TRUE(as_->map(kCode, 4096, PROT_READ | PROT_EXEC, 0, false).ok());
  }
  Registers regs_at(uint64_t rip) {
    Registers r{};
    r.rip = rip;
    r.cs = 0x33;
    r.ss = 0x2b;
    r.eflags = 0x202;
    r.rsp = kData + 4096;
    return r;
  }

  base::UniqueFd fd_;
  uint8_t* mem_ = nullptr;
  std::unique_ptr<PtracePlatform> platform_;
  std::unique_ptr<AddressSpace> as_;
};

// mov $63,%eax ; syscall (uname: one that stops in the tracer) ; int3
constexpr std::initializer_list<uint8_t> kSyscallThenTrap = {0xb8, 63, 0, 0, 0, 0x0f, 0x05, 0xcc};

TEST_F(PtracePlatformTest, InjectedSyscallRunsInStub) {
  auto r = ptrace_inject_for_test(*as_, SYS_getpid);
  ASSERT_TRUE(r.ok());
  EXPECT_GT(*r, 0);
  EXPECT_NE(*r, getpid());
}

TEST_F(PtracePlatformTest, GuestSyscallStopsAndResultIsOurs) {
  load_code(kSyscallThenTrap);
  Registers regs = regs_at(kCode);
  auto ev = as_->main_context().switch_to(regs);
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->kind, SwitchResult::Kind::kSyscall);
  EXPECT_EQ(regs.orig_rax, 63u);
  EXPECT_TRUE(ev->native_abi);
  EXPECT_EQ(regs.rip, kCode + 7);  // just after the syscall instruction
  regs.rax = 4242;
  ev = as_->main_context().switch_to(regs);
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->kind, SwitchResult::Kind::kSignal);
  EXPECT_EQ(ev->signo, SIGTRAP);
  EXPECT_EQ(regs.rax, 4242u);  // the host never ran uname
}

TEST_F(PtracePlatformTest, FaultOnUnmappedPageThenMapAndRetry) {
  // mov 0x20000,%rax (absolute) ; int3
  load_code({0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x02, 0x00, 0xcc});
  mem_[4096] = 0x5a;
  Registers regs = regs_at(kCode);
  auto ev = as_->main_context().switch_to(regs);
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->kind, SwitchResult::Kind::kFault);
  EXPECT_EQ(ev->fault_addr, kData);
  ASSERT_TRUE(as_->map(kData, 4096, PROT_READ, 4096, false).ok());
  ev = as_->main_context().switch_to(regs);
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->kind, SwitchResult::Kind::kSignal);
  EXPECT_EQ(regs.rax & 0xff, 0x5au);
}

TEST_F(PtracePlatformTest, Int80IsReportedAsForeignAbi) {
  load_code({0xb8, 20, 0, 0, 0, 0xcd, 0x80, 0xcc});  // mov $20,%eax; int $0x80
  Registers regs = regs_at(kCode);
  auto ev = as_->main_context().switch_to(regs);
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->kind, SwitchResult::Kind::kSyscall);
  EXPECT_FALSE(ev->native_abi);
}

// The seccomp wall: a guest syscall made at the stub's own site (guest code
// that jumps there) is still only reported to the tracer, which skips it; the
// host never runs it (exit_group would end the stub).
TEST_F(PtracePlatformTest, GuestSyscallAtTheSiteNeverReachesTheHost) {
  uint64_t site = ptrace_site_for_test(*as_);
  // mov $231,%eax ; mov $7,%edi ; movabs $site,%rcx ; jmp *%rcx
  std::vector<uint8_t> code = {0xb8, 231, 0, 0, 0, 0xbf, 7, 0, 0, 0, 0x48, 0xb9};
  for (int i = 0; i < 8; ++i) code.push_back(static_cast<uint8_t>(site >> (8 * i)));
  code.insert(code.end(), {0xff, 0xe1});
  std::copy(code.begin(), code.end(), mem_);
  ASSERT_TRUE(as_->map(kCode, 4096, PROT_READ | PROT_EXEC, 0, false).ok());
  Registers regs = regs_at(kCode);
  auto ev = as_->main_context().switch_to(regs);
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->kind, SwitchResult::Kind::kSyscall);
  EXPECT_EQ(regs.orig_rax, 231u);
  regs.rax = 0;
  ev = as_->main_context().switch_to(regs);  // skipped: on to the stub's int3
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->kind, SwitchResult::Kind::kSignal);
  EXPECT_EQ(ev->signo, SIGTRAP);
  auto r = ptrace_inject_for_test(*as_, SYS_getpid);  // the stub lives
  ASSERT_TRUE(r.ok());
  EXPECT_GT(*r, 0);
}

// Fast syscalls (fast_syscalls.h): getpid and gettid are answered from the
// ids the kernel set, without a stop; another syscall still stops.
TEST_F(PtracePlatformTest, IdSyscallsAreAnsweredWithoutAStop) {
  // mov $39,%eax ; syscall ; mov %rax,%rbx ; mov $186,%eax ; syscall ;
  // mov %rax,%rbp ; mov $63,%eax ; syscall ; int3
  load_code({0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0x48, 0x89, 0xc3, 0xb8, 186, 0, 0, 0, 0x0f, 0x05,
             0x48, 0x89, 0xc5, 0xb8, 63, 0, 0, 0, 0x0f, 0x05, 0xcc});
  as_->main_context().set_ids({.pid = 4242, .tid = 4243, .ppid = 1, .pgrp = 4242});
  Registers regs = regs_at(kCode);
  auto ev = as_->main_context().switch_to(regs);
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->kind, SwitchResult::Kind::kSyscall);
  EXPECT_EQ(regs.orig_rax, 63u);
  EXPECT_EQ(regs.rbx, 4242u);
  EXPECT_EQ(regs.rbp, 4243u);
}

// A fast syscall a time slice interrupts (the signal lands while the thread
// waits for its notification's answer) is restarted, never seen failing:
// a guest loop of getpid checks every answer through many preemptions.
TEST_F(PtracePlatformTest, PreemptedFastSyscallsAreRestarted) {
  // 0: mov $39,%eax ; 5: syscall ; 7: cmp $4242,%rax ; 13: jne 17 ;
  // 15: jmp 0 ; 17: int3
  load_code({0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0x48, 0x3d, 0x92, 0x10, 0, 0, 0x75, 0x02, 0xeb, 0xef,
             0xcc});
  as_->main_context().set_ids({.pid = 4242});
  platform_->set_time_slice(200'000);
  Registers regs = regs_at(kCode);
  for (int i = 0; i < 50; ++i) {
    auto ev = as_->main_context().switch_to(regs);
    ASSERT_TRUE(ev.ok());
    ASSERT_EQ(ev->kind, SwitchResult::Kind::kPreempted) << "rax " << regs.rax;
    EXPECT_GE(regs.rip, kCode);
    EXPECT_LT(regs.rip, kCode + 17);
  }
  platform_->set_time_slice(0);
}

// The host's vDSO stays mapped (read-only, above guest memory) for guest
// code to call: guest code reads its ELF magic.
TEST_F(PtracePlatformTest, VdsoIsMappedForGuestCode) {
  uint64_t vdso = as_->vdso();
  ASSERT_GE(vdso, kGuestTop);
  // movabs $vdso,%rcx ; mov (%rcx),%eax ; int3
  std::vector<uint8_t> code = {0x48, 0xb9};
  for (int i = 0; i < 8; ++i) code.push_back(static_cast<uint8_t>(vdso >> (8 * i)));
  code.insert(code.end(), {0x8b, 0x01, 0xcc});
  std::copy(code.begin(), code.end(), mem_);
  ASSERT_TRUE(as_->map(kCode, 4096, PROT_READ | PROT_EXEC, 0, false).ok());
  Registers regs = regs_at(kCode);
  auto ev = as_->main_context().switch_to(regs);
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->kind, SwitchResult::Kind::kSignal);
  EXPECT_EQ(ev->signo, SIGTRAP);
  EXPECT_EQ(regs.rax & 0xffffffffu, 0x464c457fu);  // "\x7fELF"
  // A parked stub comes back with it.
  as_.reset();
  auto as = platform_->new_address_space();
  ASSERT_TRUE(as.ok());
  as_ = std::move(*as);
  EXPECT_EQ(as_->vdso(), vdso);
}

// Without fast syscalls (the kernel's --strace) getpid stops like any other.
TEST_F(PtracePlatformTest, WithoutFastSyscallsGetpidStops) {
  as_.reset();
  auto p = PtracePlatform::create(fd_.get(), false);
  ASSERT_TRUE(p.ok());
  platform_ = std::move(*p);
  auto as = platform_->new_address_space();
  ASSERT_TRUE(as.ok());
  as_ = std::move(*as);
  load_code({0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0xcc});
  as_->main_context().set_ids({.pid = 4242});
  Registers regs = regs_at(kCode);
  auto ev = as_->main_context().switch_to(regs);
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->kind, SwitchResult::Kind::kSyscall);
  EXPECT_EQ(regs.orig_rax, 39u);
}

TEST_F(PtracePlatformTest, UnmapAndProtect) {
  load_code(kSyscallThenTrap);
  EXPECT_TRUE(as_->protect(kCode, 4096, PROT_READ).ok());
  Registers regs = regs_at(kCode);
  auto ev = as_->main_context().switch_to(regs);
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->kind, SwitchResult::Kind::kFault);  // no exec permission
  EXPECT_TRUE(as_->unmap(kCode, 4096).ok());
}

// The DSM's fault path: a userfaultfd of the stub's mm, in SIGBUS mode. A
// missing frame is a SIGBUS fault the tracer sees; once the frame has data
// (here written through the kernel's own mapping), the guest goes on.
TEST_F(PtracePlatformTest, UserfaultfdOfTheStubInSigbusMode) {
  auto uffd = as_->create_userfaultfd();
  ASSERT_TRUE(uffd.ok()) << strerror(uffd.error().code);
  struct uffdio_api api = {};
  api.api = UFFD_API;
  api.features = UFFD_FEATURE_SIGBUS;
  ASSERT_EQ(ioctl(uffd->get(), UFFDIO_API, &api), 0) << strerror(errno);
  // mov 0x20000,%rax ; int3
  load_code({0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x02, 0x00, 0xcc});
  ASSERT_TRUE(as_->map(kData, 4096, PROT_READ | PROT_WRITE, 2 * 4096, false).ok());
  struct uffdio_register reg = {};
  reg.range.start = kData;
  reg.range.len = 4096;
  reg.mode = UFFDIO_REGISTER_MODE_MISSING;
  ASSERT_EQ(ioctl(uffd->get(), UFFDIO_REGISTER, &reg), 0) << strerror(errno);
  Registers regs = regs_at(kCode);
  auto ev = as_->main_context().switch_to(regs);
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->kind, SwitchResult::Kind::kFault);
  EXPECT_EQ(ev->signo, SIGBUS);
  EXPECT_EQ(ev->fault_addr, kData);
  mem_[2 * 4096] = 0x77;  // the frame arrives (the DSM would UFFDIO_COPY it)
  ev = as_->main_context().switch_to(regs);
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->kind, SwitchResult::Kind::kSignal);  // the int3: the load went through
  EXPECT_EQ(regs.rax & 0xff, 0x77u);
}

// Guest threads: a second context of the same address space runs guest code
// in the same memory, each context stops on its own, and ending the thread
// leaves the address space (and its injections) working.
TEST_F(PtracePlatformTest, ThreadSharesMemoryAndEndsAlone) {
  // movb $0x99,0x20000 ; int3
  load_code({0xc6, 0x04, 0x25, 0x00, 0x00, 0x02, 0x00, 0x99, 0xcc});
  ASSERT_TRUE(as_->map(kData, 4096, PROT_READ | PROT_WRITE, 4096, false).ok());
  auto thread = as_->new_thread();
  ASSERT_TRUE(thread.ok()) << strerror(thread.error().code);
  Registers regs = regs_at(kCode);
  auto ev = (*thread)->switch_to(regs);
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->kind, SwitchResult::Kind::kSignal);
  EXPECT_EQ(ev->signo, SIGTRAP);
  EXPECT_EQ(mem_[4096], 0x99);
  FpRegisters fp;
  ASSERT_TRUE(as_->main_context().get_fpregs(fp).ok());
  ASSERT_TRUE((*thread)->set_fpregs(fp).ok());
  // The main thread still runs, then the thread ends alone.
  load_code(kSyscallThenTrap);
  Registers main_regs = regs_at(kCode);
  ev = as_->main_context().switch_to(main_regs);
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->kind, SwitchResult::Kind::kSyscall);
  thread->reset();
  auto r = ptrace_inject_for_test(*as_, SYS_getpid);
  ASSERT_TRUE(r.ok());
  EXPECT_GT(*r, 0);
  // A thread left running when the address space dies is ended with it.
  auto second = as_->new_thread();
  ASSERT_TRUE(second.ok());
  as_.reset();
  Registers dead = regs_at(kCode);
  EXPECT_FALSE((*second)->switch_to(dead).ok());
}

// Stub reuse (stub_pool.h): an ended address space's stub comes back for the
// next one with no guest mapping, nothing writable of its own, a fresh FP
// state, and runs guest code as a new stub does.
TEST_F(PtracePlatformTest, StubIsReusedCleanAfterItsAddressSpaceEnds) {
  load_code(kSyscallThenTrap);
  ASSERT_TRUE(as_->map(kData, 4096, PROT_READ | PROT_WRITE, 4096, false).ok());
  FpRegisters fp;
  ASSERT_TRUE(as_->main_context().get_fpregs(fp).ok());
  fp.xmm_space[0] = 0xdeadbeef;  // what a guest would leave in %xmm0
  fp.mxcsr = 0x1f80 | 0x6000;    // and its rounding mode
  ASSERT_TRUE(as_->main_context().set_fpregs(fp).ok());
  auto first = ptrace_inject_for_test(*as_, SYS_getpid);
  ASSERT_TRUE(first.ok());
  as_.reset();
  auto as = platform_->new_address_space();
  ASSERT_TRUE(as.ok());
  as_ = std::move(*as);
  auto again = ptrace_inject_for_test(*as_, SYS_getpid);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *first);  // the same host process
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/maps", static_cast<int>(*again));
  FILE* f = fopen(path, "re");
  ASSERT_NE(f, nullptr);
  char line[512];
  int lines = 0;
  while (fgets(line, sizeof(line), f)) {
    unsigned long long lo = strtoull(line, nullptr, 16);
    const char* perms = strchr(line, ' ') + 1;
    EXPECT_GE(lo, kGuestTop) << line;  // no guest mapping left
    EXPECT_NE(perms[1], 'w') << line;  // nothing writable to leave data in
    ++lines;
  }
  fclose(f);
  EXPECT_GE(lines, 1);
  ASSERT_TRUE(as_->main_context().get_fpregs(fp).ok());
  EXPECT_EQ(fp.xmm_space[0], 0u);
  EXPECT_EQ(fp.mxcsr, 0x1f80u);
  load_code(kSyscallThenTrap);
  Registers regs = regs_at(kCode);
  auto ev = as_->main_context().switch_to(regs);
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->kind, SwitchResult::Kind::kSyscall);
  EXPECT_EQ(regs.orig_rax, 63u);
}

// Time slices: guest code that never makes a syscall (jmp .) is stopped and
// reported as kPreempted once a slice is set, and runs on from where it was.
TEST_F(PtracePlatformTest, SpinningGuestCodeIsPreempted) {
  load_code({0xeb, 0xfe});  // jmp .
  platform_->set_time_slice(1'000'000);
  Registers regs = regs_at(kCode);
  auto ev = as_->main_context().switch_to(regs);
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->kind, SwitchResult::Kind::kPreempted);
  EXPECT_EQ(regs.rip, kCode);
  ev = as_->main_context().switch_to(regs);  // resumes, and is stopped again
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->kind, SwitchResult::Kind::kPreempted);
  platform_->set_time_slice(0);
}

}  // namespace
}  // namespace kernel::platform
