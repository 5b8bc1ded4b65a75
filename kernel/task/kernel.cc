#include "kernel/task/kernel.h"

#include <fmt/format.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "base/bytes.h"
#include "kernel/loader/elf_loader.h"
#include "kernel/platform/ptrace/ptrace_platform.h"
#include "kernel/syscalls/strace.h"
#include "kernel/syscalls/table.h"
#include "kernel/task/procfs.h"
#include "kernel/task/signals.h"

namespace kernel::task {
namespace {

constexpr size_t kMaxImage = 512u << 20;
constexpr int kMaxInterpreterDepth = 4;

Result<std::vector<uint8_t>> read_all(int fd, size_t size) {
  std::vector<uint8_t> buf(size);
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, buf.data() + done, size - done, done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno::last();
    }
    if (n == 0) break;
    done += n;
  }
  buf.resize(done);
  return buf;
}

int exit_code_of(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 1;
}

std::string basename_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

base::StatusOr<std::unique_ptr<Kernel>> Kernel::Create(const KernelConfig& config,
                                                       dsm::FrameStore& store) {
  auto root = fs::Root::open(config.root_dir);
  if (!root.ok())
    return base::Error::from_errno("root directory " + config.root_dir, root.error().code);
  size_t bytes = store.frame_count() * base::kPageSize;
  void* frames = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, store.memfd(), 0);
  if (frames == MAP_FAILED) return base::Error::from_errno("mapping the frame memfd");
  auto platform = platform::PtracePlatform::create(store.memfd());
  if (!platform.ok()) {
    ::munmap(frames, bytes);
    return base::Error::from_errno("ptrace platform", platform.error().code);
  }
  std::unique_ptr<Kernel> k(new Kernel(config, store, std::move(*root),
                                       static_cast<uint8_t*>(frames), std::move(*platform)));
  k->hostname_ = config.hostname;
  ::clock_gettime(CLOCK_MONOTONIC, &k->boot_time_);
  return k;
}

Kernel::~Kernel() {
  procs_.clear();  // kills every stub
  ::munmap(frames_, store_.frame_count() * base::kPageSize);
}

double Kernel::uptime() const {
  struct timespec now;
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<double>(now.tv_sec - boot_time_.tv_sec) +
         static_cast<double>(now.tv_nsec - boot_time_.tv_nsec) / 1e9;
}

uint64_t Kernel::now_ns() {
  struct timespec now;
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1000000000ull + now.tv_nsec;
}

uint64_t Kernel::run_timers() {
  uint64_t now = now_ns(), next = 0;
  auto consider = [&next](uint64_t d) {
    if (d && (!next || d < next)) next = d;
  };
  for (auto& [pid, p] : procs_) {
    if (p->state == Process::State::kZombie) continue;
    if (p->alarm_deadline && p->alarm_deadline <= now) {
      p->alarm_deadline = p->alarm_interval ? now + p->alarm_interval : 0;
      siginfo_t si = {};
      si.si_code = SI_KERNEL;
      signal(*p, SIGALRM, &si);
      if (p->state == Process::State::kZombie) continue;
    }
    if (p->sleep_deadline && p->sleep_deadline <= now && p->state == Process::State::kBlocked &&
        (p->waiting == Process::Wait::kSleep || p->waiting == Process::Wait::kIo ||
         p->waiting == Process::Wait::kFutex)) {
      p->state = Process::State::kRunnable;
      p->waiting = Process::Wait::kNone;
    }
    consider(p->alarm_deadline);
    if (p->state == Process::State::kBlocked) consider(p->sleep_deadline);
  }
  return next;
}

Process* Kernel::find(int pid) {
  auto it = procs_.find(pid);
  return it == procs_.end() ? nullptr : it->second.get();
}

std::vector<Process*> Kernel::children_of(int pid) {
  std::vector<Process*> out;
  for (auto& [id, p] : procs_)
    if (pid == -1 || p->ppid == pid) out.push_back(p.get());
  return out;
}

std::string Kernel::guest_path(const Process& p, const std::string& path) const {
  return fs::join_guest_path(p.cwd, path);
}

Result<std::unique_ptr<Process>> Kernel::new_process() {
  auto p = std::make_unique<Process>();
  p->pid = next_pid_++;
  return p;
}

Result<void> Kernel::load_program(Process& p, const std::string& path,
                                  std::vector<std::string> argv, std::vector<std::string> envp,
                                  int depth) {
  std::string lex = fs::normalize_lexically(path);
  if (is_proc_path(lex)) {
    // /proc/self/exe and friends name a file of the root (busybox runs its
    // applets through /proc/self/exe).
    if (depth >= kMaxInterpreterDepth) return Errno(ELOOP);
    auto po = TRY(proc_open(*this, p, lex, O_RDONLY));
    if (po.file) return Errno(EACCES);
    return load_program(p, po.redirect, std::move(argv), std::move(envp), depth + 1);
  }
  auto fd = TRY(root_.open_path(path, O_RDONLY));
  struct stat st;
  if (::fstat(fd.get(), &st) < 0) return Errno::last();
  if (!S_ISREG(st.st_mode)) return Errno(EACCES);
  if (!(st.st_mode & 0111)) return Errno(EACCES);
  if (static_cast<uint64_t>(st.st_size) > kMaxImage) return Errno(ENOMEM);
  auto image = TRY(read_all(fd.get(), st.st_size));

  if (image.size() >= 2 && image[0] == '#' && image[1] == '!') {
    if (depth >= kMaxInterpreterDepth) return Errno(ELOOP);
    auto [interp, arg] = TRY(loader::parse_shebang(image));
    std::vector<std::string> nargv = {interp};
    if (!arg.empty()) nargv.push_back(arg);
    nargv.push_back(path);
    for (size_t i = 1; i < argv.size(); ++i) nargv.push_back(argv[i]);
    return load_program(p, guest_path(p, interp), std::move(nargv), std::move(envp), depth + 1);
  }

  auto as = TRY(platform_->new_address_space());
  auto mm = std::make_unique<mm::MemoryManager>(store_, alloc_, frames_, as.get());
  std::vector<uint8_t> interp_image;
  std::string interp = TRY(loader::elf_interpreter(image));
  if (!interp.empty()) {
    // The interpreter is a file of the guest's root, like any other.
    auto ifd = root_.open_path(interp, O_RDONLY);
    if (!ifd.ok()) return ifd.error().code == ENOENT ? Errno(ENOENT) : ifd.error();
    struct stat ist;
    if (::fstat(ifd->get(), &ist) < 0) return Errno::last();
    if (!S_ISREG(ist.st_mode) || static_cast<uint64_t>(ist.st_size) > kMaxImage)
      return Errno(ELIBBAD);
    interp_image = TRY(read_all(ifd->get(), ist.st_size));
  }
  loader::ExecArgs args{argv, std::move(envp), path};
  auto img = TRY(loader::load_elf(*mm, image, args, interp_image));
  p.argv = std::move(argv);

  // Point of no return: the old program is gone.
  p.mm = std::move(mm);
  p.as = std::move(as);
  p.regs = platform::Registers{};
  p.regs.rip = img.entry;
  p.regs.rsp = img.stack_pointer;
  p.regs.cs = 0x33;
  p.regs.ss = 0x2b;
  p.regs.eflags = 0x202;
  p.exe = path;
  p.comm = basename_of(path).substr(0, 15);
  return {};
}

Result<void> Kernel::execve(Process& p, const std::string& path, std::vector<std::string> argv,
                            std::vector<std::string> envp) {
  TRY(load_program(p, path, std::move(argv), std::move(envp), 0));
  p.fds.close_on_exec();
  for (auto& act : p.sigactions)
    if (act.handler != reinterpret_cast<uint64_t>(SIG_IGN)) act = GuestSigaction{};
  p.clear_child_tid = 0;
  p.altstack = {};
  if (p.vfork_parent) {
    if (Process* parent = find(p.vfork_parent);
        parent && parent->waiting == Process::Wait::kVforkChild) {
      parent->state = Process::State::kRunnable;
      parent->waiting = Process::Wait::kNone;
    }
    p.vfork_parent = 0;
  }
  return {};
}

Result<int> Kernel::fork(Process& parent, uint64_t flags, uint64_t new_sp, uint64_t parent_tid,
                         uint64_t child_tid, uint64_t tls) {
  constexpr uint64_t kKnown = CSIGNAL | CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
                              CLONE_VFORK | CLONE_PARENT_SETTID | CLONE_CHILD_SETTID |
                              CLONE_CHILD_CLEARTID | CLONE_SETTLS | CLONE_SYSVSEM;
  if (flags & CLONE_THREAD) return Errno(ENOSYS);  // threads: not yet
  if (flags & ~kKnown) return Errno(EINVAL);
  auto child = TRY(new_process());
  child->as = TRY(platform_->new_address_space());
  child->mm = TRY(parent.mm->fork(child->as.get()));
  child->ppid = parent.pid;
  child->pgid = parent.pgid;
  child->sid = parent.sid;
  child->fds = parent.fds;
  child->cwd = parent.cwd;
  child->exe = parent.exe;
  child->comm = parent.comm;
  child->argv = parent.argv;
  child->umask = parent.umask;
  child->sigactions = parent.sigactions;
  child->sigmask = parent.sigmask;
  child->altstack = parent.altstack;
  child->regs = parent.regs;
  child->regs.rax = 0;
  if (new_sp) child->regs.rsp = new_sp;
  if (flags & CLONE_SETTLS) child->regs.fs_base = tls;
  int pid = child->pid;
  if (flags & CLONE_CHILD_SETTID) TRY(child->mm->copy_out(mm::UserPtr<int>(child_tid), pid));
  if (flags & CLONE_CHILD_CLEARTID) child->clear_child_tid = child_tid;
  if (flags & CLONE_PARENT_SETTID) TRY(parent.mm->copy_out(mm::UserPtr<int>(parent_tid), pid));
  if (flags & CLONE_VFORK) {
    child->vfork_parent = parent.pid;
    parent.state = Process::State::kBlocked;
    parent.waiting = Process::Wait::kVforkChild;
  }
  procs_.emplace(pid, std::move(child));
  return pid;
}

void Kernel::exit_process(Process& p, int wait_status) {
  if (p.state == Process::State::kZombie) return;
  futex_forget(p);
  if (p.clear_child_tid && p.mm) {
    if (p.mm->copy_out(mm::UserPtr<int>(p.clear_child_tid), 0).ok())
      (void)futex_wake(p, p.clear_child_tid, 1, ~0u);
  }
  p.fds.close_all();
  p.mm.reset();
  p.as.reset();
  p.state = Process::State::kZombie;
  p.in_syscall = false;
  p.wait_status = wait_status;
  if (p.vfork_parent) {
    if (Process* parent = find(p.vfork_parent);
        parent && parent->waiting == Process::Wait::kVforkChild) {
      parent->state = Process::State::kRunnable;
      parent->waiting = Process::Wait::kNone;
    }
    p.vfork_parent = 0;
  }
  // Orphans go to init; zombie orphans of a dead init are simply dropped.
  std::vector<int> drop;
  for (auto& [id, c] : procs_) {
    if (c->ppid != p.pid || id == p.pid) continue;
    c->ppid = 1;
    if (c->state == Process::State::kZombie && p.pid == 1) drop.push_back(id);
  }
  for (int id : drop) procs_.erase(id);
  Process* parent = find(p.ppid);
  if (parent && parent->state == Process::State::kBlocked &&
      parent->waiting == Process::Wait::kChild) {
    parent->state = Process::State::kRunnable;
    parent->waiting = Process::Wait::kNone;
  }
  if (parent) {
    siginfo_t si = {};
    si.si_code = WIFSIGNALED(wait_status) ? CLD_KILLED : CLD_EXITED;
    si.si_pid = p.pid;
    si.si_status = WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : WEXITSTATUS(wait_status);
    signal(*parent, SIGCHLD, &si);
  }
}

void Kernel::reap(int pid) { procs_.erase(pid); }

namespace {
Result<uint64_t> futex_key(Process& p, uint64_t uaddr) {
  if (uaddr % 4) return Errno(EINVAL);
  uint32_t word;
  TRY(p.mm->copy_in(uaddr, &word, sizeof(word)));  // makes the page (and frame) exist
  uint64_t frame = TRY(p.mm->frame_of(uaddr));
  return frame * base::kPageSize + uaddr % base::kPageSize + 1;  // never 0
}
}  // namespace

Result<uint64_t> Kernel::futex_wait(Process& p, uint64_t uaddr, uint32_t val, uint32_t bitset,
                                    uint64_t deadline) {
  if (p.futex_key) {  // dispatched again: woken, timed out, or spurious
    if (p.futex_woken) {
      p.futex_key = 0;
      p.futex_woken = false;
      return 0;
    }
    if (p.sleep_deadline && now_ns() >= p.sleep_deadline) {
      futex_forget(p);
      return Errno(ETIMEDOUT);
    }
    p.state = Process::State::kBlocked;
    p.waiting = Process::Wait::kFutex;
    return Errno(syscalls::kRestart);
  }
  if (bitset == 0) return Errno(EINVAL);
  uint64_t key = TRY(futex_key(p, uaddr));
  uint32_t word;
  TRY(p.mm->copy_in(uaddr, &word, sizeof(word)));
  if (word != val) return Errno(EAGAIN);
  if (deadline && now_ns() >= deadline) return Errno(ETIMEDOUT);
  p.futex_key = key;
  p.futex_woken = false;
  p.sleep_deadline = deadline;
  futex_waiters_.emplace(key, std::make_pair(p.pid, bitset));
  p.state = Process::State::kBlocked;
  p.waiting = Process::Wait::kFutex;
  return Errno(syscalls::kRestart);
}

Result<uint64_t> Kernel::futex_wake(Process& p, uint64_t uaddr, uint32_t n, uint32_t bitset) {
  if (bitset == 0) return Errno(EINVAL);
  uint64_t key = TRY(futex_key(p, uaddr));
  uint64_t woken = 0;
  auto [lo, hi] = futex_waiters_.equal_range(key);
  for (auto it = lo; it != hi && woken < n;) {
    if (!(it->second.second & bitset)) {
      ++it;
      continue;
    }
    Process* w = find(it->second.first);
    it = futex_waiters_.erase(it);
    if (!w || w->state == Process::State::kZombie) continue;
    w->futex_woken = true;
    if (w->state == Process::State::kBlocked && w->waiting == Process::Wait::kFutex) {
      w->state = Process::State::kRunnable;
      w->waiting = Process::Wait::kNone;
    }
    ++woken;
  }
  return woken;
}

void Kernel::futex_forget(Process& p) {
  if (!p.futex_key) return;
  auto [lo, hi] = futex_waiters_.equal_range(p.futex_key);
  for (auto it = lo; it != hi;)
    it = it->second.first == p.pid ? futex_waiters_.erase(it) : std::next(it);
  p.futex_key = 0;
  p.futex_woken = false;
}

void Kernel::power_off() { powered_off_ = true; }

void Kernel::block_on(Process& p, fs::WaitQueue& q) {
  p.state = Process::State::kBlocked;
  p.waiting = Process::Wait::kIo;
  int pid = p.pid;
  q.add([this, pid] {
    Process* w = find(pid);
    if (w && w->state == Process::State::kBlocked && w->waiting == Process::Wait::kIo) {
      w->state = Process::State::kRunnable;
      w->waiting = Process::Wait::kNone;
    }
  });
}

void Kernel::block_on_host(Process& p, int fd, short events) {
  p.state = Process::State::kBlocked;
  p.waiting = Process::Wait::kHostFd;
  p.wait_host_fd = fd;
  p.wait_host_events = events;
}

bool Kernel::poll_host_fds(int timeout_ms) {
  std::vector<pollfd> fds;
  std::vector<Process*> who;
  for (auto& [pid, p] : procs_) {
    if (p->state != Process::State::kBlocked || p->waiting != Process::Wait::kHostFd) continue;
    fds.push_back({p->wait_host_fd, p->wait_host_events, 0});
    who.push_back(p.get());
  }
  if (fds.empty()) return false;
  int n = ::poll(fds.data(), fds.size(), timeout_ms);
  if (n <= 0) return false;
  for (size_t i = 0; i < fds.size(); ++i) {
    if (!fds[i].revents) continue;
    who[i]->state = Process::State::kRunnable;
    who[i]->waiting = Process::Wait::kNone;
    who[i]->wait_host_fd = -1;
  }
  return true;
}

void Kernel::signal(Process& t, int sig, const siginfo_t* info) {
  if (sig <= 0 || sig > 64 || t.state == Process::State::kZombie) return;
  if (sig == SIGKILL) {
    exit_process(t, SIGKILL);
    return;
  }
  if (sig == SIGCONT && t.stopped) {
    t.stopped = false;  // continues even when SIGCONT is ignored or caught
    t.stop_reported = true;
  }
  const GuestSigaction& act = t.sigactions[sig];
  if (sig != SIGSTOP && act.handler == reinterpret_cast<uint64_t>(SIG_IGN)) return;
  if (sig == SIGSTOP || act.handler == reinterpret_cast<uint64_t>(SIG_DFL)) {
    DefaultAction da = default_action(sig);
    if (da == DefaultAction::kStop) {
      stop_process(t, sig);
      return;
    }
    if (da != DefaultAction::kTerminate && da != DefaultAction::kCore) return;
    if (!(t.sigmask & sigbit(sig))) {
      exit_process(t, sig);
      return;
    }
  }
  t.pending |= sigbit(sig);
  siginfo_t si = {};
  if (info) si = *info;
  si.si_signo = sig;
  t.pending_info[sig] = si;
  if (!(t.sigmask & sigbit(sig)) && t.state == Process::State::kBlocked &&
      (t.waiting == Process::Wait::kIo || t.waiting == Process::Wait::kChild ||
       t.waiting == Process::Wait::kSignal || t.waiting == Process::Wait::kSleep ||
       t.waiting == Process::Wait::kFutex || t.waiting == Process::Wait::kHostFd)) {
    t.state = Process::State::kRunnable;
    t.waiting = Process::Wait::kNone;
    t.interrupted = true;
  }
}

void Kernel::stop_process(Process& t, int sig) {
  if (t.stopped) return;
  t.stopped = true;
  t.stop_signal = sig;
  t.stop_reported = false;
  Process* parent = find(t.ppid);
  if (!parent) return;
  if (parent->state == Process::State::kBlocked && parent->waiting == Process::Wait::kChild) {
    parent->state = Process::State::kRunnable;
    parent->waiting = Process::Wait::kNone;
  }
  if (!(parent->sigactions[SIGCHLD].flags & SA_NOCLDSTOP)) {
    siginfo_t si = {};
    si.si_code = CLD_STOPPED;
    si.si_pid = t.pid;
    si.si_status = sig;
    signal(*parent, SIGCHLD, &si);
  }
}

void Kernel::force_signal(Process& t, int sig, const siginfo_t& info) {
  // As Linux's force_sig: a blocked or ignored synchronous signal cannot be
  // held back; it gets its default action.
  GuestSigaction& act = t.sigactions[sig];
  if ((t.sigmask & sigbit(sig)) || act.handler == reinterpret_cast<uint64_t>(SIG_IGN)) {
    act = GuestSigaction{};
    t.sigmask &= ~sigbit(sig);
  }
  signal(t, sig, &info);
}

void Kernel::finish_interrupted_syscall(Process& p) {
  futex_forget(p);
  p.connect_pending = false;
  p.wait_host_fd = -1;
  p.interrupted = false;
  p.sleep_deadline = 0;
  p.in_syscall = false;
  uint64_t deliverable = p.pending & ~p.sigmask;
  int sig = deliverable ? __builtin_ctzll(deliverable) + 1 : 0;
  uint64_t nr = p.regs.orig_rax;
  bool restartable = nr != SYS_pause && nr != SYS_rt_sigsuspend && nr != SYS_nanosleep &&
                     nr != SYS_clock_nanosleep;
  bool restart = sig && (p.sigactions[sig].flags & SA_RESTART) && restartable;
  if (restart) {
    p.regs.rax = nr;
    p.regs.rip -= 2;  // back onto the syscall instruction
  } else {
    p.regs.rax = static_cast<uint64_t>(-EINTR);
  }
  if (config_.strace)
    fmt::print(stderr, "[{}] syscall {} interrupted by signal {}: {}\n", p.pid, nr, sig,
               restart ? "restarted" : "EINTR");
}

void Kernel::deliver_signals(Process& p) {
  while (p.state == Process::State::kRunnable) {
    uint64_t deliverable = p.pending & ~p.sigmask;
    if (!deliverable) return;
    int sig = __builtin_ctzll(deliverable) + 1;
    p.pending &= ~sigbit(sig);
    const GuestSigaction& act = p.sigactions[sig];
    if (act.handler == reinterpret_cast<uint64_t>(SIG_IGN)) continue;
    if (act.handler == reinterpret_cast<uint64_t>(SIG_DFL)) {
      DefaultAction da = default_action(sig);
      if (da == DefaultAction::kTerminate || da == DefaultAction::kCore) exit_process(p, sig);
      continue;
    }
    if (config_.strace) fmt::print(stderr, "[{}] --- signal {} delivered ---\n", p.pid, sig);
    if (!setup_frame(p, sig, p.pending_info[sig]).ok()) exit_process(p, SIGSEGV);
  }
}

void Kernel::dispatch(Process& p) {
  uint64_t nr = p.regs.orig_rax;
  syscalls::SyscallArgs args{
      {p.regs.rdi, p.regs.rsi, p.regs.rdx, p.regs.r10, p.regs.r8, p.regs.r9}};
  const syscalls::SyscallInfo* info = syscalls::find_syscall(nr);
  std::string call;
  if (config_.strace) call = syscalls::format_call(info, nr, args, p.mm.get());
  Result<uint64_t> r = Errno(ENOSYS);
  if (info && info->handler) {
    r = info->handler(*this, p, args);
  } else {
    // Logged once per number; documented refusals (a note in the table) are
    // expected and stay quiet.
    static std::set<uint64_t> logged;
    bool documented = info && info->note[0] != '\0';
    if (!documented && logged.insert(nr).second)
      spdlog::warn("guest syscall {} ({}) is not implemented: ENOSYS", nr,
                   info ? info->name : "unknown");
  }
  if (!r.ok() && r.error().code == syscalls::kRestart) {
    if (p.state == Process::State::kBlocked) return;  // dispatched again when woken
    r = Errno(EINTR);
  }
  p.in_syscall = false;
  p.sleep_deadline = 0;
  int pid = p.pid;
  if (p.state == Process::State::kZombie) {
    if (config_.strace) fmt::print(stderr, "[{}] {} = ?\n", pid, call);
    return;
  }
  p.regs.rax = r.ok() ? *r : static_cast<uint64_t>(-static_cast<int64_t>(r.error().code));
  if (config_.strace)
    fmt::print(stderr, "[{}] {} {}\n", pid, call, syscalls::format_result(info, r));
}

void Kernel::run_process(Process& p) {
  using Kind = platform::SwitchResult::Kind;
  while (p.runnable() && !powered_off_) {
    if (p.in_syscall && p.interrupted) finish_interrupted_syscall(p);
    if (p.in_syscall) {
      dispatch(p);
      continue;
    }
    if (p.alarm_deadline && p.alarm_deadline <= now_ns()) run_timers();
    deliver_signals(p);
    if (!p.runnable()) break;
    auto ev = p.as->main_context().switch_to(p.regs);
    if (!ev.ok()) {
      spdlog::error("pid {}: lost its address space ({})", p.pid, std::strerror(ev.error().code));
      exit_process(p, SIGKILL);
      break;
    }
    switch (ev->kind) {
      case Kind::kSyscall:
        if (!ev->native_abi) {
          p.regs.rax = static_cast<uint64_t>(-ENOSYS);  // no 32-bit ABI
          break;
        }
        p.in_syscall = true;
        break;
      case Kind::kFault:
        if (!p.mm->handle_fault(ev->fault_addr, ev->signo == SIGBUS).ok()) {
          spdlog::info("pid {} ({}): segfault at {:#x} ip {:#x}", p.pid, p.comm, ev->fault_addr,
                       p.regs.rip);
          siginfo_t si = {};
          si.si_code = SEGV_MAPERR;
          si.si_addr = reinterpret_cast<void*>(ev->fault_addr);
          force_signal(p, ev->signo ? ev->signo : SIGSEGV, si);
        }
        break;
      case Kind::kSignal:
        // A synchronous trap of the guest's own (int3, ud2, divide error...).
        if (ev->signo == SIGTRAP || ev->signo == SIGILL || ev->signo == SIGFPE ||
            ev->signo == SIGBUS || ev->signo == SIGSYS || ev->signo == SIGSEGV ||
            ev->signo == SIGABRT) {
          siginfo_t si = {};
          si.si_code = SI_KERNEL;
          force_signal(p, ev->signo, si);
        }
        break;
      case Kind::kExit:
        spdlog::error("pid {}: its stub died (host status {:#x})", p.pid, ev->wait_status);
        exit_process(p, SIGKILL);
        break;
    }
  }
}

base::StatusOr<int> Kernel::run(const std::string& init, std::vector<std::string> argv,
                                std::vector<std::string> envp) {
  auto proc = new_process();
  if (!proc.ok()) return base::Error("no pid for init");
  Process& p = **proc;
  p.ppid = 0;
  p.pgid = p.sid = p.pid;
  auto console = [&](int host_fd, int flags) -> base::Status {
    int fd = ::fcntl(host_fd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0) return base::Error::from_errno(fmt::format("console fd {}", host_fd));
    auto r = p.fds.install(fs::make_host_file(base::UniqueFd(fd), "/dev/console", flags), false);
    if (!r.ok()) return base::Error("fd table");
    return {};
  };
  if (auto s = console(config_.console_in, O_RDONLY); !s.ok()) return s.error();
  if (auto s = console(config_.console_out, O_WRONLY); !s.ok()) return s.error();
  if (auto s = console(config_.console_err, O_WRONLY); !s.ok()) return s.error();
  if (auto r = load_program(p, init, std::move(argv), std::move(envp), 0); !r.ok())
    return base::Error::from_errno("starting init " + init, r.error().code);
  procs_.emplace(p.pid, std::move(*proc));

  int last = 0;
  while (!powered_off_) {
    Process* initp = find(1);
    if (!initp || initp->state == Process::State::kZombie) break;
    // Round robin over runnable processes, starting after the last one run.
    Process* next = nullptr;
    for (auto it = procs_.upper_bound(last); it != procs_.end() && !next; ++it)
      if (it->second->runnable()) next = it->second.get();
    for (auto it = procs_.begin(); it != procs_.end() && !next; ++it)
      if (it->second->runnable()) next = it->second.get();
    uint64_t deadline = run_timers();
    poll_host_fds(0);
    if (!next) {
      for (auto it = procs_.begin(); it != procs_.end() && !next; ++it)
        if (it->second->runnable()) next = it->second.get();
    }
    if (!next) {
      // Nothing runnable: wait for a host fd, up to the next timer.
      int timeout = -1;
      if (deadline) {
        uint64_t now = now_ns();
        timeout = deadline > now ? static_cast<int>((deadline - now) / 1000000 + 1) : 0;
      }
      if (poll_host_fds(timeout)) continue;
      if (!deadline && std::none_of(procs_.begin(), procs_.end(), [](const auto& e) {
            return e.second->state == Process::State::kBlocked &&
                   e.second->waiting == Process::Wait::kHostFd;
          })) {
        procs_.clear();
        return base::Error("every guest process is blocked: nothing can run", EDEADLK);
      }
      if (!deadline) continue;
      // Nothing to run until a timer: sleep the kernel thread until then.
      struct timespec ts = {static_cast<time_t>(deadline / 1000000000),
                            static_cast<long>(deadline % 1000000000)};
      while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
      }
      continue;
    }
    last = next->pid;
    run_process(*next);
  }
  int status = 0;
  if (!powered_off_) status = exit_code_of(find(1)->wait_status);
  procs_.clear();
  return status;
}

}  // namespace kernel::task
