#include "kernel/platform/ptrace/ptrace_platform.h"

#include <elf.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/ptrace.h>
#include <sched.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include "kernel/platform/ptrace/fast_syscalls.h"
#include "kernel/platform/ptrace/register_cache.h"
#include "kernel/platform/ptrace/stub_pool.h"

// The stub ELF, embedded by stub_blob.S (.incbin).
extern "C" const char pangaea_stub_blob_start[];
extern "C" const char pangaea_stub_blob_end[];

namespace kernel::platform {
namespace {

// The fd number the frame memfd has inside every stub.
constexpr int kStubFramesFd = 100;
constexpr int kStubExeFd = 101;

long xptrace(int req, pid_t pid, uint64_t addr, uint64_t data) {
  return ::syscall(SYS_ptrace, req, pid, addr, data);
}

// rax of a syscall a signal interrupted that the host would restart
// (ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND: kernel-internal errnos).
bool interrupted_restartable(uint64_t rax) {
  auto r = static_cast<int64_t>(rax);
  return r == -512 || r == -513 || r == -514;
}

// What the address space and its contexts share: the stub's pid (its
// leader thread, also its host process group) and the injection site. A
// context may outlive its address space; it then sees pid <= 0.
struct Stub {
  pid_t pid;
  uint64_t site;  // address of the stub's syscall instruction
  // Stops of a thread seen while waiting for another one (a new thread's
  // first SIGSTOP arrives while the clone is still being injected).
  std::map<pid_t, int> early_stops;
  // Host threads of guest threads that ended, parked in a ptrace stop and
  // handed to the next new_thread (a clone and an exit injection saved).
  std::vector<pid_t> idle_threads;
  // The platform's preempter, once made (it outlives every stub).
  const std::unique_ptr<Preempter>* preempter = nullptr;
  // The answering side of the stub's id syscalls (null: the stub stops on
  // every syscall) and the stub's listener fd registered there.
  std::shared_ptr<FastSyscalls> fast;
  int listener = -1;

  // The stub is gone or killed: its listener goes too.
  void drop_listener() {
    if (fast && listener >= 0) fast->remove(listener);
    listener = -1;
  }
};

// Waits for the next ptrace event of stub thread `tid`. Exits of the stub's
// other threads (the host killed the stub) are reaped on the way: a traced
// leader is reported only once every other thread is reaped, so waiting on
// the leader alone could hang. The stub is its own process group, so
// waitpid(-pgid) sees exactly its threads.
Result<int> wait_thread(Stub& stub, pid_t tid) {
  if (auto it = stub.early_stops.find(tid); it != stub.early_stops.end()) {
    int status = it->second;
    stub.early_stops.erase(it);
    return status;
  }
  for (;;) {
    if (stub.pid <= 0) return Errno(ESRCH);
    int status;
    pid_t got = ::waitpid(-stub.pid, &status, __WALL);
    if (got < 0) {
      if (errno == EINTR) continue;
      return Errno::last();
    }
    if (got == tid) return status;
    if (got == stub.pid && (WIFEXITED(status) || WIFSIGNALED(status))) {
      stub.pid = -1;  // the whole stub is gone, `tid` with it
      return Errno(ESRCH);
    }
    if (WIFSTOPPED(status)) stub.early_stops[got] = status;
    // Else another thread's exit: it is reaped.
  }
}

class PtraceContext : public Context {
 public:
  PtraceContext(std::shared_ptr<Stub> stub, pid_t tid) : stub_(std::move(stub)), tid_(tid) {}
  ~PtraceContext() override {
    if (stub_->fast && tid_ > 0) stub_->fast->forget(tid_);
    end_thread();
  }
  void set_ids(const ThreadIds& ids) override;
  Result<SwitchResult> switch_to(Registers& regs) override;
  Result<void> get_fpregs(FpRegisters& fp) override;
  Result<void> set_fpregs(const FpRegisters& fp) override;
  // Someone else wrote the thread's registers (an injection).
  void forget_registers() { regs_.forget(); }

 private:
  pid_t tid() const { return stub_->pid > 0 ? tid_ : -1; }
  // A thread other than the leader is parked for reuse by new_thread (up
  // to a bound) or exits through an injected exit(); the leader stays
  // parked for injections until the stub is killed.
  void end_thread();

  std::shared_ptr<Stub> stub_;
  pid_t tid_;
  RegisterCache regs_;
  bool ids_set_ = false;
  ThreadIds ids_;
  int cpu_ = -1;  // the host CPU the thread is bound to (-1: not bound yet)

  // Binds the thread to the CPU the tracer runs on, before resuming it.
  // Guest threads run one at a time and the tracer waits while one runs, so
  // they lose no parallelism; what it saves is a cross-CPU wake-up at every
  // switch between stubs (an IPI to an idle vCPU on a VM: measured ~45 us a
  // switch between two guest processes, 3x the rest of a pipe round trip;
  // docs/PERFORMANCE.md "Guest syscalls"). gVisor's ptrace platform binds its
  // stub threads the same way. sched_getcpu is a vDSO call; the affinity is
  // set again only when the tracer has moved.
  void follow_cpu(pid_t tid) {
    int cpu = ::sched_getcpu();
    if (cpu < 0 || cpu == cpu_) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (::sched_setaffinity(tid, sizeof(set), &set) == 0) cpu_ = cpu;
  }
};

class PtraceAddressSpace : public AddressSpace {
 public:
  PtraceAddressSpace(pid_t pid, uint64_t site, std::shared_ptr<FastSyscalls> fast, int listener)
      : stub_(std::make_shared<Stub>(Stub{pid, site})), context_(stub_, pid) {
    stub_->fast = std::move(fast);
    stub_->listener = listener;
  }
  ~PtraceAddressSpace() override {
    if (!park()) kill();
  }

  Result<void> map(uint64_t vaddr, uint64_t len, int prot, uint64_t offset,
                   bool populate) override {
    int flags = MAP_SHARED | MAP_FIXED | (populate ? MAP_POPULATE : 0);
    int64_t r = TRY(inject(SYS_mmap, vaddr, len, prot, flags, kStubFramesFd, offset));
    if (r < 0 && r > -4096) return Errno(static_cast<int>(-r));
    if (static_cast<uint64_t>(r) != vaddr) return Errno(EFAULT);
    return {};
  }
  Result<void> unmap(uint64_t vaddr, uint64_t len) override {
    int64_t r = TRY(inject(SYS_munmap, vaddr, len));
    if (r < 0) return Errno(static_cast<int>(-r));
    return {};
  }
  Result<void> protect(uint64_t vaddr, uint64_t len, int prot) override {
    int64_t r = TRY(inject(SYS_mprotect, vaddr, len, prot));
    if (r < 0) return Errno(static_cast<int>(-r));
    return {};
  }
  Result<base::UniqueFd> create_userfaultfd() override {
    // Made by the stub so that it belongs to the stub's mm, then pulled into
    // the kernel with pidfd_getfd and closed in the stub.
    constexpr long kUserModeOnly = 1;  // UFFD_USER_MODE_ONLY (Linux 5.11)
    int64_t remote = TRY(inject(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | kUserModeOnly));
    if (remote < 0) return Errno(static_cast<int>(-remote));
    base::UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid(), 0)));
    long local = pidfd.valid() ? ::syscall(SYS_pidfd_getfd, pidfd.get(), remote, 0) : -1;
    int err = errno;
    (void)inject(SYS_close, remote);
    if (local < 0) return Errno(err);
    return base::UniqueFd(static_cast<int>(local));
  }
  Context& main_context() override { return context_; }
  Result<std::unique_ptr<Context>> new_thread() override;
  void kill() override {
    if (pid() <= 0) {
      stub_->drop_listener();
      return;
    }
    ::kill(pid(), SIGKILL);
    // Every thread is reaped before the leader is reported.
    while (wait_thread(*stub_, -1).ok()) {
    }
    stub_->pid = -1;
    stub_->drop_listener();
  }

  // Runs one host syscall in the stub's leader thread, which must be in a
  // ptrace stop. The guest's registers are saved and restored around it.
  Result<int64_t> inject(long nr, long a0 = 0, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0,
                         long a5 = 0) {
    pid_t pid_ = pid();
    if (pid_ <= 0) return Errno(ESRCH);
    context_.forget_registers();
    Registers saved;
    if (xptrace(PTRACE_GETREGS, pid_, 0, reinterpret_cast<uint64_t>(&saved)) < 0)
      return Errno::last();
    Registers r = saved;
    r.rip = stub_->site;
    r.rax = nr;
    r.orig_rax = -1;
    r.rdi = a0;
    r.rsi = a1;
    r.rdx = a2;
    r.r10 = a3;
    r.r8 = a4;
    r.r9 = a5;
    if (xptrace(PTRACE_SETREGS, pid_, 0, reinterpret_cast<uint64_t>(&r)) < 0) return Errno::last();
    if (xptrace(PTRACE_CONT, pid_, 0, 0) < 0) return Errno::last();
    for (;;) {
      auto status = wait_thread(*stub_, pid_);
      if (!status.ok() || WIFEXITED(*status) || WIFSIGNALED(*status)) {
        spdlog::error("stub {} died during an injected syscall {}", pid_, nr);
        stub_->pid = -1;
        return Errno(EFAULT);
      }
      // The int3 after the site; a clone event (new_thread) and the
      // filter's seccomp stop before the injected syscall runs also stop
      // with SIGTRAP, with the event in the high bits: go on to the int3
      // (continuing from the seccomp stop lets the host run the syscall).
      if (WIFSTOPPED(*status) && WSTOPSIG(*status) == SIGTRAP && (*status >> 16) == 0) break;
      if (WIFSTOPPED(*status) && (*status >> 16) == PTRACE_EVENT_CLONE) {
        unsigned long child = 0;
        xptrace(PTRACE_GETEVENTMSG, pid_, 0, reinterpret_cast<uint64_t>(&child));
        last_clone_ = static_cast<pid_t>(child);
      }
      // Any other stop (a host signal): swallow it and go on.
      xptrace(PTRACE_CONT, pid_, 0, 0);
    }
    if (xptrace(PTRACE_GETREGS, pid_, 0, reinterpret_cast<uint64_t>(&r)) < 0) return Errno::last();
    if (xptrace(PTRACE_SETREGS, pid_, 0, reinterpret_cast<uint64_t>(&saved)) < 0)
      return Errno::last();
    return static_cast<int64_t>(r.rax);
  }

  pid_t pid() const { return stub_->pid; }
  uint64_t site() const { return stub_->site; }
  void set_preempter(const std::unique_ptr<Preempter>* p) { stub_->preempter = p; }
  void set_pool(std::shared_ptr<StubPool> pool) { pool_ = std::move(pool); }
  void set_listener(int fd) { stub_->listener = fd; }
  void set_vdso(uint64_t v) { vdso_ = v; }
  uint64_t vdso() const override { return vdso_; }

  // Cleans the stub and parks it in the pool (stub_pool.h) instead of
  // killing it: only a whole stub (alive, no other thread, no context left
  // but the main one). False: the caller kills it.
  bool park() {
    if (!pool_ || pid() <= 0 || stub_.use_count() > 2 || !stub_->early_stops.empty() ||
        host_thread_count(pid()) != 1)
      return false;
    auto r = inject(SYS_munmap, kGuestMin, kGuestTop - kGuestMin);
    if (!r.ok() || *r != 0 || !pool_->reset_xstate(pid())) return false;
    if (!pool_->park(ParkedStub{pid(), stub_->site, stub_->listener, vdso_})) return false;
    stub_->pid = -1;  // the pool's now
    return true;
  }

 private:
  std::shared_ptr<Stub> stub_;
  PtraceContext context_;
  std::shared_ptr<StubPool> pool_;
  pid_t last_clone_ = 0;  // the thread of the last injected clone (PTRACE_EVENT_CLONE)
  uint64_t vdso_ = 0;
};

Result<void> PtraceContext::get_fpregs(FpRegisters& fp) {
  if (xptrace(PTRACE_GETFPREGS, tid(), 0, reinterpret_cast<uint64_t>(&fp)) < 0)
    return Errno::last();
  return {};
}

Result<void> PtraceContext::set_fpregs(const FpRegisters& fp) {
  if (xptrace(PTRACE_SETFPREGS, tid(), 0, reinterpret_cast<uint64_t>(&fp)) < 0)
    return Errno::last();
  return {};
}

void PtraceContext::set_ids(const ThreadIds& ids) {
  if (!stub_->fast || tid_ <= 0 || (ids_set_ && ids == ids_)) return;
  stub_->fast->set_ids(tid_, ids);
  ids_ = ids;
  ids_set_ = true;
}

Result<SwitchResult> PtraceContext::switch_to(Registers& regs) {
  pid_t pid = tid();
  if (pid <= 0) return Errno(ESRCH);
  // Resuming always writes orig_rax = -1. From a seccomp stop (a guest
  // syscall, or one a parked thread was stopped in) that skips the syscall,
  // which the host would otherwise run; from any other stop it only keeps
  // the host from restarting a syscall, and no host syscall of the guest's
  // is ever in flight there (see the interrupted fast syscall below).
  Registers w = regs;
  w.orig_rax = static_cast<uint64_t>(-1);
  TRY(regs_.store(pid, w));
  follow_cpu(pid);
  Preempter* preempter = stub_->preempter ? stub_->preempter->get() : nullptr;
  if (preempter) preempter->begin_run(stub_->pid, pid);
  if (xptrace(PTRACE_CONT, pid, 0, 0) < 0) {
    if (preempter) preempter->end_run();
    return Errno::last();
  }
  auto waited = wait_thread(*stub_, pid);
  if (preempter) preempter->end_run();
  SwitchResult out{};
  if (!waited.ok() || WIFEXITED(*waited) || WIFSIGNALED(*waited)) {
    if (pid == stub_->pid) stub_->pid = -1;
    tid_ = -1;
    out.kind = SwitchResult::Kind::kExit;
    out.wait_status = waited.ok() ? *waited : SIGKILL;
    return out;
  }
  int status = *waited;
  TRY(regs_.load(pid, regs));
  int sig = WSTOPSIG(status);
  if (status >> 8 == (SIGTRAP | (PTRACE_EVENT_SECCOMP << 8))) {
    // The filter's SECCOMP_RET_TRACE stop, before the host would run it.
    out.kind = SwitchResult::Kind::kSyscall;
    // The `syscall` instruction leaves rcx = return address and r11 = rflags,
    // which the entry code saves as ip and flags; `int $0x80` does not. This
    // costs nothing, unlike PTRACE_GET_SYSCALL_INFO. A guest that forges
    // rcx/r11 before int $0x80 only gets its call read with 64-bit numbers:
    // still emulated by us, never the host's.
    out.native_abi = regs.rcx == regs.rip && regs.r11 == regs.eflags;
    return out;
  }
  if (static_cast<int64_t>(regs.orig_rax) >= 0 && interrupted_restartable(regs.rax)) {
    // A fast syscall (a seccomp notification, fast_syscalls.h) interrupted
    // by this signal: the host would restart it on resume. Do it here, so the
    // registers are those before the syscall instruction, as for any guest
    // code a signal interrupts.
    regs.rax = regs.orig_rax;
    regs.rip -= 2;
    regs.orig_rax = static_cast<uint64_t>(-1);
  }
  if (sig == Preempter::kSignal) {
    // The preempter's kick (no one else sends the stub signals); resuming
    // with signal 0 drops it.
    out.kind = SwitchResult::Kind::kPreempted;
    return out;
  }
  if (sig == SIGSEGV || sig == SIGBUS) {
    siginfo_t si;
    if (xptrace(PTRACE_GETSIGINFO, pid, 0, reinterpret_cast<uint64_t>(&si)) == 0 &&
        si.si_code > 0) {
      // A real fault (si_code > 0), not a signal someone sent.
      out.kind = SwitchResult::Kind::kFault;
      out.fault_addr = reinterpret_cast<uint64_t>(si.si_addr);
      out.signo = sig;
      return out;
    }
  }
  out.kind = SwitchResult::Kind::kSignal;
  out.signo = sig;
  return out;
}

// Writes the embedded stub ELF into a sealed memfd once per platform.
Result<base::UniqueFd> make_stub_exe() {
  base::UniqueFd fd(::memfd_create("pangaea-stub", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd.valid()) return Errno::last();
  size_t len = pangaea_stub_blob_end - pangaea_stub_blob_start;
  const char* p = pangaea_stub_blob_start;
  while (len > 0) {
    ssize_t n = ::write(fd.get(), p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno::last();
    }
    p += n;
    len -= n;
  }
  ::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
  return fd;
}

bool host_mappings_above_guest(pid_t pid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/maps", pid);
  FILE* f = fopen(path, "re");
  if (!f) return false;
  char line[512];
  bool ok = true;
  while (fgets(line, sizeof(line), f)) {
    unsigned long long start = strtoull(line, nullptr, 16);
    if (start < kGuestTop) ok = false;
  }
  fclose(f);
  return ok;
}

}  // namespace

Result<std::unique_ptr<PtracePlatform>> PtracePlatform::create(int frames_fd, bool fast_syscalls) {
  auto exe = TRY(make_stub_exe());
  std::shared_ptr<FastSyscalls> fast;
  if (fast_syscalls) fast = TRY(FastSyscalls::create());
  return std::unique_ptr<PtracePlatform>(
      new PtracePlatform(frames_fd, std::move(exe), std::move(fast)));
}

Result<std::unique_ptr<AddressSpace>> PtracePlatform::new_address_space() {
  if (auto parked = pool_->take()) {
    auto as =
        std::make_unique<PtraceAddressSpace>(parked->pid, parked->site, fast_, parked->listener);
    as->set_vdso(parked->vdso);
    as->set_preempter(&preempter_);
    as->set_pool(pool_);
    return std::unique_ptr<AddressSpace>(std::move(as));
  }
  pid_t pid = ::fork();
  if (pid < 0) return Errno::last();
  if (pid == 0) {
    // Child: only async-signal-safe calls from here to exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::setpgid(0, 0);  // terminal signals go to pangaea, not to stubs
    ::personality(ADDR_NO_RANDOMIZE);
    if (::dup2(frames_fd_, kStubFramesFd) < 0) ::_exit(124);
    if (::dup3(stub_exe_.get(), kStubExeFd, O_CLOEXEC) < 0) ::_exit(124);
    ::syscall(SYS_close_range, 0, kStubFramesFd - 1, 0);
    ::syscall(SYS_close_range, kStubExeFd + 1, ~0U, 0);
    if (xptrace(PTRACE_TRACEME, 0, 0, 0) < 0) ::_exit(125);
    char name[] = "pangaea-stub";
    char fast[] = "fast";
    char* argv[] = {name, fast_ ? fast : nullptr, nullptr};
    char* envp[] = {nullptr};
    ::syscall(SYS_execveat, kStubExeFd, "", argv, envp, AT_EMPTY_PATH);
    ::_exit(126);
  }
  auto fail = [&](const char* what) -> Errno {
    int err = errno ? errno : EIO;
    spdlog::error("stub {}: {}", pid, what);
    ::kill(pid, SIGKILL);
    int st;
    ::waitpid(pid, &st, __WALL);
    return Errno(err);
  };
  int status;
  if (::waitpid(pid, &status, __WALL) < 0 || !WIFSTOPPED(status) || WSTOPSIG(status) != SIGTRAP)
    return fail("did not stop at exec");
  if (xptrace(PTRACE_SETOPTIONS, pid, 0,
              PTRACE_O_EXITKILL | PTRACE_O_TRACECLONE | PTRACE_O_TRACESECCOMP) < 0)
    return fail("PTRACE_SETOPTIONS");
  if (xptrace(PTRACE_CONT, pid, 0, 0) < 0) return fail("PTRACE_CONT");
  // The stub installs its filter, then stops at the int3 before the site.
  if (::waitpid(pid, &status, __WALL) < 0 || !WIFSTOPPED(status) || WSTOPSIG(status) != SIGTRAP) {
    errno = EIO;
    return fail("did not reach its ready stop");
  }
  Registers regs;
  if (xptrace(PTRACE_GETREGS, pid, 0, reinterpret_cast<uint64_t>(&regs)) < 0)
    return fail("PTRACE_GETREGS");
  // Guard the layout assumption: nothing of the host may sit where guest
  // memory goes.
  if (!host_mappings_above_guest(pid)) {
    errno = EEXIST;
    return fail("has host mappings below kGuestTop");
  }
  pool_->save_fresh_xstate(pid);
  auto as = std::make_unique<PtraceAddressSpace>(pid, regs.rip, fast_, -1);
  as->set_preempter(&preempter_);
  if (fast_) {
    // The stub left its filter's listener fd in rax: pull it out, close it
    // in the stub, hand it to the answering thread.
    auto remote = static_cast<int64_t>(regs.rax);
    if (remote < 0) return Errno(EIO);  // `as` kills the stub
    base::UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    base::UniqueFd local(
        pidfd.valid() ? static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd.get(), remote, 0)) : -1);
    if (!local.valid() || TRY(as->inject(SYS_close, remote)) != 0) return Errno(EIO);
    int fd = local.get();
    TRY(fast_->add(std::move(local)));
    as->set_listener(fd);
  }
  // Leave the stub nothing writable of its own (its stack): a guest could
  // otherwise leave data there for the next user of a parked stub. Its loop
  // needs only its text; the host's vDSO and its read-only data pages stay
  // for guest code to call (AddressSpace::vdso: clock_gettime without a
  // syscall, as the host's own programs do).
  auto text = host_mapping_of(pid, regs.rip);
  if (!text) return Errno(EIO);
  uint64_t vdso = 0;
  for (const HostMapping& m : host_mappings(pid)) {
    if (m.start < kGuestTop || m.start == text->first) continue;
    if (m.name == "[vdso]" && !m.writable) {
      vdso = m.start;
      continue;
    }
    if ((m.name == "[vvar]" || m.name == "[vvar_vclock]") && !m.writable) continue;
    if (m.name == "[vsyscall]") continue;  // not a mapping of the process's own
    if (TRY(as->inject(SYS_munmap, m.start, m.end - m.start)) != 0) return Errno(EIO);
  }
  as->set_vdso(vdso);
  as->set_pool(pool_);
  return std::unique_ptr<AddressSpace>(std::move(as));
}

void PtracePlatform::set_time_slice(uint64_t ns) {
  if (!preempter_ && ns == 0) return;
  if (!preempter_) preempter_ = std::make_unique<Preempter>();
  preempter_->set_slice(ns);
}

// Guest threads (CLONE_THREAD): a host thread made by an injected clone in
// the stub's leader. PTRACE_O_TRACECLONE attaches it to us; it starts in a
// SIGSTOP stop right after the site, where it waits for its first switch_to.
// It shares the stub's seccomp filter and, like every thread, can make a
// host syscall only from the site.
Result<std::unique_ptr<Context>> PtraceAddressSpace::new_thread() {
  constexpr long kFlags =
      CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;
  if (!stub_->idle_threads.empty()) {
    pid_t tid = stub_->idle_threads.back();
    stub_->idle_threads.pop_back();
    return std::unique_ptr<Context>(new PtraceContext(stub_, tid));
  }
  last_clone_ = 0;
  int64_t r = TRY(inject(SYS_clone, kFlags, 0, 0, 0, 0));
  if (r < 0) return Errno(static_cast<int>(-r));
  pid_t tid = last_clone_ ? last_clone_ : static_cast<pid_t>(r);
  auto status = wait_thread(*stub_, tid);
  if (!status.ok()) return status.error();
  if (!WIFSTOPPED(*status)) return Errno(EIO);
  return std::unique_ptr<Context>(new PtraceContext(stub_, tid));
}

void PtraceContext::end_thread() {
  constexpr size_t kMaxIdleThreads = 16;
  pid_t t = tid();
  if (t <= 0 || t == stub_->pid) return;
  if (stub_->idle_threads.size() < kMaxIdleThreads) {
    stub_->idle_threads.push_back(t);  // stays stopped; it runs no guest code
    tid_ = -1;
    return;
  }
  Registers r;
  if (xptrace(PTRACE_GETREGS, t, 0, reinterpret_cast<uint64_t>(&r)) == 0) {
    r.rip = stub_->site;
    r.rax = SYS_exit;
    r.orig_rax = -1;
    r.rdi = 0;
    if (xptrace(PTRACE_SETREGS, t, 0, reinterpret_cast<uint64_t>(&r)) == 0 &&
        xptrace(PTRACE_CONT, t, 0, 0) == 0) {
      for (;;) {
        auto st = wait_thread(*stub_, t);
        if (!st.ok() || WIFEXITED(*st) || WIFSIGNALED(*st)) break;
        xptrace(PTRACE_CONT, t, 0, 0);  // a stop on the way out: go on
      }
      tid_ = -1;
      return;
    }
  }
  // The thread cannot be made to exit alone: end the whole stub rather than
  // leave a thread the kernel no longer runs.
  spdlog::error("stub {}: thread {} did not exit; killing the stub", stub_->pid, t);
  ::kill(stub_->pid, SIGKILL);
  while (wait_thread(*stub_, -1).ok()) {
  }
  stub_->pid = -1;
  stub_->drop_listener();
  tid_ = -1;
}

Result<int64_t> ptrace_inject_for_test(AddressSpace& as, long nr, long a0, long a1, long a2,
                                       long a3, long a4, long a5) {
  return static_cast<PtraceAddressSpace&>(as).inject(nr, a0, a1, a2, a3, a4, a5);
}

uint64_t ptrace_site_for_test(AddressSpace& as) {
  return static_cast<PtraceAddressSpace&>(as).site();
}

}  // namespace kernel::platform
