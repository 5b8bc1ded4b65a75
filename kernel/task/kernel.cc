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
#include "kernel/fs/timer_list.h"
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

// Wakes p's threads that wait in wait4/waitid for a child.
void wake_child_waiters(Process& p) {
  for (Thread* w : p.live_threads())
    if (w->state == Thread::State::kBlocked && w->waiting == Thread::Wait::kChild) {
      w->state = Thread::State::kRunnable;
      w->waiting = Thread::Wait::kNone;
    }
}

// A time slice: with other threads runnable, a thread that has run this long
// is sent back to the scheduler at its next syscall or fault, or stopped by
// the platform's preemption if it makes none.
constexpr uint64_t kTimeSliceNs = 10'000'000;
// Alone, a thread is stopped this often only to look for console signals.
constexpr uint64_t kConsoleSliceNs = 100'000'000;

}  // namespace

base::StatusOr<std::unique_ptr<Kernel>> Kernel::Create(const KernelConfig& config,
                                                       dsm::FrameStore& store) {
  auto root = fs::Root::open(config.root_dir);
  if (!root.ok())
    return base::Error::from_errno("root directory " + config.root_dir, root.error().code);
  size_t bytes = store.frame_count() * base::kPageSize;
  // User copies go through the store's own mapping when it has one: its
  // faults are resolved there, so a frame evicted or invalidated between
  // make_present() and the copy comes back (dsm/frame_store.h mapping()).
  void* frames = store.mapping();
  if (frames == nullptr) {
    frames = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, store.memfd(), 0);
    if (frames == MAP_FAILED) return base::Error::from_errno("mapping the frame memfd");
  }
  // --strace must see every syscall: no id syscall answered on the side.
  auto platform = platform::PtracePlatform::create(store.memfd(), !config.strace);
  if (!platform.ok()) {
    if (frames != store.mapping()) ::munmap(frames, bytes);
    return base::Error::from_errno("ptrace platform", platform.error().code);
  }
  std::unique_ptr<Kernel> k(new Kernel(config, store, std::move(*root),
                                       static_cast<uint8_t*>(frames), std::move(*platform)));
  k->hostname_ = config.hostname;
  ::clock_gettime(CLOCK_MONOTONIC, &k->boot_time_);
  return k;
}

Kernel::~Kernel() {
  threads_.clear();
  procs_.clear();  // kills every stub
  if (frames_ != reinterpret_cast<uint8_t*>(store_.mapping()))
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
  consider(fs::TimerList::get().run(now));  // timerfds
  for (auto& [pid, p] : procs_) {
    if (p->zombie()) continue;
    if (p->alarm_deadline && p->alarm_deadline <= now) {
      p->alarm_deadline = p->alarm_interval ? now + p->alarm_interval : 0;
      siginfo_t si = {};
      si.si_code = SI_KERNEL;
      signal(*p, SIGALRM, &si);
    }
    if (!p->zombie()) consider(p->alarm_deadline);
  }
  for (auto& [tid, t] : threads_) {
    if (t->sleep_deadline && t->sleep_deadline <= now && t->state == Thread::State::kBlocked &&
        (t->waiting == Thread::Wait::kSleep || t->waiting == Thread::Wait::kIo ||
         t->waiting == Thread::Wait::kFutex || t->waiting == Thread::Wait::kSignal ||
         t->waiting == Thread::Wait::kHostFd)) {
      t->state = Thread::State::kRunnable;
      t->waiting = Thread::Wait::kNone;
      t->wait_host.clear();
    }
    if (t->state == Thread::State::kBlocked) consider(t->sleep_deadline);
  }
  return next;
}

Process* Kernel::find(int pid) {
  auto it = procs_.find(pid);
  return it == procs_.end() ? nullptr : it->second.get();
}

Thread* Kernel::find_thread(int tid) {
  auto it = threads_.find(tid);
  return it == threads_.end() ? nullptr : it->second;
}

Thread& Kernel::add_thread(Process& p, int tid) {
  auto t = std::make_unique<Thread>();
  t->tid = tid;
  t->process = &p;
  Thread& ref = *t;
  p.threads.push_back(std::move(t));
  threads_[tid] = &ref;
  return ref;
}

void Kernel::end_thread(Thread& t) {
  if (t.dead()) return;
  futex_forget(t);
  t.state = Thread::State::kDead;
  t.in_syscall = false;
  auto it = threads_.find(t.tid);
  if (it != threads_.end() && it->second == &t) threads_.erase(it);
  dead_threads_ = true;
}

void Kernel::free_dead_threads() {
  if (!dead_threads_) return;
  dead_threads_ = false;
  for (auto& [pid, p] : procs_)
    std::erase_if(p->threads, [](const std::unique_ptr<Thread>& t) { return t->dead(); });
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

static void release_robust_list(Kernel& k, Thread& t);

Result<void> Kernel::load_program(Thread& t, const std::string& path, std::vector<std::string> argv,
                                  std::vector<std::string> envp, int depth) {
  Process& p = *t.process;
  std::string lex = fs::normalize_lexically(path);
  if (is_proc_path(lex)) {
    // /proc/self/exe and friends name a file of the root (busybox runs its
    // applets through /proc/self/exe).
    if (depth >= kMaxInterpreterDepth) return Errno(ELOOP);
    auto po = TRY(proc_open(*this, p, lex, O_RDONLY));
    if (po.file) return Errno(EACCES);
    return load_program(t, po.redirect, std::move(argv), std::move(envp), depth + 1);
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
    return load_program(t, guest_path(p, interp), std::move(nargv), std::move(envp), depth + 1);
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
  loader::ExecArgs args{argv, std::move(envp), path, as->vdso()};
  auto img = TRY(loader::load_elf(*mm, image, args, interp_image));
  p.argv = std::move(argv);

  // Point of no return: the old program is gone, and with it every other
  // thread; t goes on as the process's only thread, with the pid as tid.
  release_robust_list(*this, t);
  for (Thread* other : p.live_threads())
    if (other != &t) end_thread(*other);
  if (t.tid != p.pid) {
    threads_.erase(t.tid);
    t.tid = p.pid;
    threads_[t.tid] = &t;
  }
  t.own_context.reset();  // before its address space goes
  p.mm = std::move(mm);
  p.as = std::move(as);
  t.context = &p.as->main_context();
  t.regs = platform::Registers{};
  t.regs.rip = img.entry;
  t.regs.rsp = img.stack_pointer;
  t.regs.cs = 0x33;
  t.regs.ss = 0x2b;
  t.regs.eflags = 0x202;
  p.exe = path;
  p.comm = basename_of(path).substr(0, 15);
  return {};
}

Result<void> Kernel::execve(Thread& t, const std::string& path, std::vector<std::string> argv,
                            std::vector<std::string> envp) {
  Process& p = *t.process;
  TRY(load_program(t, path, std::move(argv), std::move(envp), 0));
  p.fds.close_on_exec();
  for (auto& act : p.sigactions)
    if (act.handler != reinterpret_cast<uint64_t>(SIG_IGN)) act = GuestSigaction{};
  t.clear_child_tid = 0;
  t.altstack = {};
  if (p.vfork_parent) {
    if (Process* parent = find(p.vfork_parent); parent && !parent->zombie())
      for (Thread* w : parent->live_threads())
        if (w->waiting == Thread::Wait::kVforkChild) {
          w->state = Thread::State::kRunnable;
          w->waiting = Thread::Wait::kNone;
        }
    p.vfork_parent = 0;
  }
  return {};
}

Result<int> Kernel::clone(Thread& t, uint64_t flags, uint64_t new_sp, uint64_t parent_tid,
                          uint64_t child_tid, uint64_t tls) {
  constexpr uint64_t kKnown = CSIGNAL | CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
                              CLONE_VFORK | CLONE_PARENT_SETTID | CLONE_CHILD_SETTID |
                              CLONE_CHILD_CLEARTID | CLONE_SETTLS | CLONE_SYSVSEM | CLONE_THREAD |
                              CLONE_DETACHED;
  if (flags & ~kKnown) return Errno(EINVAL);
  // As Linux: a thread shares the signal handlers, which need the memory.
  if ((flags & CLONE_THREAD) && !(flags & CLONE_SIGHAND)) return Errno(EINVAL);
  if ((flags & CLONE_SIGHAND) && !(flags & CLONE_VM)) return Errno(EINVAL);
  Process& parent = *t.process;
  if (flags & CLONE_THREAD) {
    // A thread of the same process: the same memory, fds, cwd and signal
    // actions (they live in the Process, so CLONE_FS/FILES are implied).
    auto ctx = TRY(parent.as->new_thread());
    platform::FpRegisters fp;
    if (t.context->get_fpregs(fp).ok()) TRY(ctx->set_fpregs(fp));
    int tid = next_pid_++;
    Thread& child = add_thread(parent, tid);
    child.own_context = std::move(ctx);
    child.context = child.own_context.get();
    child.regs = t.regs;
    child.regs.rax = 0;
    if (new_sp) child.regs.rsp = new_sp;
    if (flags & CLONE_SETTLS) child.regs.fs_base = tls;
    child.sigmask = t.sigmask;  // the alternate stack is not inherited
    if (flags & CLONE_CHILD_CLEARTID) child.clear_child_tid = child_tid;
    if (flags & CLONE_CHILD_SETTID) (void)parent.mm->copy_out(mm::UserPtr<int>(child_tid), tid);
    if (flags & CLONE_PARENT_SETTID) (void)parent.mm->copy_out(mm::UserPtr<int>(parent_tid), tid);
    return tid;
  }
  auto proc = TRY(new_process());
  proc->as = TRY(platform_->new_address_space());
  proc->mm = TRY(parent.mm->fork(proc->as.get()));
  Process& child = *proc;
  child.ppid = parent.pid;
  child.pgid = parent.pgid;
  child.sid = parent.sid;
  child.fds = parent.fds;
  child.cwd = parent.cwd;
  child.exe = parent.exe;
  child.comm = parent.comm;
  child.argv = parent.argv;
  child.umask = parent.umask;
  child.sigactions = parent.sigactions;
  int pid = child.pid;
  procs_.emplace(pid, std::move(proc));
  // Only the calling thread is copied.
  Thread& ct = add_thread(child, pid);
  ct.context = &child.as->main_context();
  ct.sigmask = t.sigmask;
  ct.altstack = t.altstack;
  ct.regs = t.regs;
  ct.regs.rax = 0;
  // The FP/SSE registers too: code after the syscall may hold values there.
  if (platform::FpRegisters fp; t.context->get_fpregs(fp).ok()) (void)ct.context->set_fpregs(fp);
  if (new_sp) ct.regs.rsp = new_sp;
  if (flags & CLONE_SETTLS) ct.regs.fs_base = tls;
  if (flags & CLONE_CHILD_SETTID) (void)child.mm->copy_out(mm::UserPtr<int>(child_tid), pid);
  if (flags & CLONE_CHILD_CLEARTID) ct.clear_child_tid = child_tid;
  if (flags & CLONE_PARENT_SETTID) (void)parent.mm->copy_out(mm::UserPtr<int>(parent_tid), pid);
  if (flags & CLONE_VFORK) {
    child.vfork_parent = parent.pid;
    t.state = Thread::State::kBlocked;
    t.waiting = Thread::Wait::kVforkChild;
  }
  return pid;
}

// The robust futex list (set_robust_list) of a thread that exits or execs:
// every lock word still owned by the thread gets FUTEX_OWNER_DIED and one
// waiter is woken, as Linux's exit_robust_list. The list is guest memory:
// any fault ends the walk, and the walk is bounded.
static void release_robust_list(Kernel& k, Thread& t) {
  struct Head {
    uint64_t next;
    int64_t futex_offset;
    uint64_t list_op_pending;
  };
  constexpr uint32_t kWaiters = 0x80000000, kOwnerDied = 0x40000000, kTidMask = 0x3fffffff;
  constexpr int kMaxEntries = 2048;  // Linux's ROBUST_LIST_LIMIT
  Process& p = *t.process;
  uint64_t head_addr = t.robust_list;
  t.robust_list = 0;
  if (!head_addr || !p.mm) return;
  auto head = p.mm->copy_in(mm::UserPtr<Head>(head_addr));
  if (!head.ok()) return;
  auto handle = [&](uint64_t entry) {
    uint64_t uaddr = (entry & ~uint64_t{1}) + head->futex_offset;
    auto word = p.mm->copy_in(mm::UserPtr<uint32_t>(uaddr));
    if (!word.ok() || (*word & kTidMask) != static_cast<uint32_t>(t.tid)) return;
    uint32_t died = (*word & kWaiters) | kOwnerDied;
    if (!p.mm->copy_out(mm::UserPtr<uint32_t>(uaddr), died).ok()) return;
    if (*word & kWaiters) (void)k.futex_wake(p, uaddr, 1, ~0u, false);
  };
  uint64_t entry = head->next;
  for (int i = 0; i < kMaxEntries && entry && entry != head_addr; ++i) {
    auto next = p.mm->copy_in(mm::UserPtr<uint64_t>(entry & ~uint64_t{1}));
    if (!next.ok()) break;
    if (entry != head->list_op_pending) handle(entry);
    entry = *next;
  }
  if (head->list_op_pending) handle(head->list_op_pending);
}

// What a thread that ends leaves in its memory: its robust futexes marked
// dead, then the clear-child-tid word zeroed and one waiter woken
// (pthread_join waits on it), if the memory is still there.
static void clear_child_tid_of(Kernel& k, Thread& t) {
  Process& p = *t.process;
  release_robust_list(k, t);
  if (!t.clear_child_tid || !p.mm) return;
  uint64_t addr = t.clear_child_tid;
  t.clear_child_tid = 0;
  if (p.mm->copy_out(mm::UserPtr<int>(addr), 0).ok()) (void)k.futex_wake(p, addr, 1, ~0u, false);
}

void Kernel::exit_thread(Thread& t, int wait_status) {
  Process& p = *t.process;
  if (t.dead()) return;
  if (p.live_threads().size() <= 1) {
    exit_process(p, wait_status);
    return;
  }
  clear_child_tid_of(*this, t);
  end_thread(t);
  // Its host thread leaves the platform's hands now (ended or kept for the
  // next thread); a process's first one stays in its address space (every
  // injection runs there) until the process ends.
  t.own_context.reset();
  t.context = nullptr;
}

void Kernel::exit_process(Process& p, int wait_status) {
  if (p.zombie()) return;
  for (Thread* t : p.live_threads()) {
    clear_child_tid_of(*this, *t);
    end_thread(*t);
  }
  p.fds.close_all();
  p.mm.reset();
  p.as.reset();  // kills the stub and every host thread in it
  for (auto& t : p.threads) {
    t->own_context.reset();
    t->context = nullptr;
  }
  p.state = Process::State::kZombie;
  p.wait_status = wait_status;
  if (p.vfork_parent) {
    if (Process* parent = find(p.vfork_parent); parent && !parent->zombie())
      for (Thread* w : parent->live_threads())
        if (w->waiting == Thread::Wait::kVforkChild) {
          w->state = Thread::State::kRunnable;
          w->waiting = Thread::Wait::kNone;
        }
    p.vfork_parent = 0;
  }
  // Orphans go to init; zombie orphans of a dead init are simply dropped.
  std::vector<int> drop;
  for (auto& [id, c] : procs_) {
    if (c->ppid != p.pid || id == p.pid) continue;
    c->ppid = 1;
    if (c->zombie() && p.pid == 1) drop.push_back(id);
  }
  for (int id : drop) procs_.erase(id);
  Process* parent = find(p.ppid);
  if (parent) wake_child_waiters(*parent);
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
Result<FutexKey> futex_key(Process& p, uint64_t uaddr, bool priv) {
  if (uaddr % 4) return Errno(EINVAL);
  uint32_t word;
  TRY(p.mm->copy_in(uaddr, &word, sizeof(word)));  // makes the page (and frame) exist
  if (!priv) {
    const auto& vmas = p.mm->vmas();
    auto it = vmas.upper_bound(uaddr);
    if (it != vmas.begin() && uaddr < std::prev(it)->second.end && std::prev(it)->second.shared) {
      uint64_t frame = TRY(p.mm->frame_of(uaddr));
      return FutexKey{0, frame * base::kPageSize + uaddr % base::kPageSize + 1};
    }
  }
  return FutexKey{reinterpret_cast<uintptr_t>(p.mm.get()), uaddr + 1};  // never {0, 0}
}
}  // namespace

Result<uint64_t> Kernel::futex_wait(Thread& t, uint64_t uaddr, uint32_t val, uint32_t bitset,
                                    uint64_t deadline, bool priv) {
  Process& p = *t.process;
  if (t.futex_key.second) {  // dispatched again: woken, timed out, or spurious
    if (t.futex_woken) {
      t.futex_key = {0, 0};
      t.futex_woken = false;
      return 0;
    }
    if (t.sleep_deadline && now_ns() >= t.sleep_deadline) {
      futex_forget(t);
      return Errno(ETIMEDOUT);
    }
    t.state = Thread::State::kBlocked;
    t.waiting = Thread::Wait::kFutex;
    return Errno(syscalls::kRestart);
  }
  if (bitset == 0) return Errno(EINVAL);
  FutexKey key = TRY(futex_key(p, uaddr, priv));
  uint32_t word;
  TRY(p.mm->copy_in(uaddr, &word, sizeof(word)));
  if (word != val) return Errno(EAGAIN);
  if (deadline && now_ns() >= deadline) return Errno(ETIMEDOUT);
  t.futex_key = key;
  t.futex_woken = false;
  t.sleep_deadline = deadline;
  futex_waiters_.emplace(key, std::make_pair(t.tid, bitset));
  t.state = Thread::State::kBlocked;
  t.waiting = Thread::Wait::kFutex;
  return Errno(syscalls::kRestart);
}

Result<uint64_t> Kernel::futex_wake(Process& p, uint64_t uaddr, uint32_t n, uint32_t bitset,
                                    bool priv) {
  if (bitset == 0) return Errno(EINVAL);
  FutexKey key = TRY(futex_key(p, uaddr, priv));
  uint64_t woken = 0;
  auto [lo, hi] = futex_waiters_.equal_range(key);
  for (auto it = lo; it != hi && woken < n;) {
    if (!(it->second.second & bitset)) {
      ++it;
      continue;
    }
    Thread* w = find_thread(it->second.first);
    it = futex_waiters_.erase(it);
    if (!w) continue;
    w->futex_woken = true;
    if (w->state == Thread::State::kBlocked && w->waiting == Thread::Wait::kFutex) {
      w->state = Thread::State::kRunnable;
      w->waiting = Thread::Wait::kNone;
    }
    ++woken;
  }
  return woken;
}

Result<uint64_t> Kernel::futex_requeue(Process& p, uint64_t uaddr, uint64_t uaddr2, uint32_t n,
                                       uint32_t n2, bool check, uint32_t val, bool priv) {
  FutexKey key = TRY(futex_key(p, uaddr, priv));
  FutexKey key2 = TRY(futex_key(p, uaddr2, priv));
  if (check) {
    uint32_t word;
    TRY(p.mm->copy_in(uaddr, &word, sizeof(word)));
    if (word != val) return Errno(EAGAIN);
  }
  uint64_t done = TRY(futex_wake(p, uaddr, n, ~0u, priv));
  // Move the next n2 waiters to the second word: they now wait there.
  auto [lo, hi] = futex_waiters_.equal_range(key);
  std::vector<std::pair<int, uint32_t>> moved;
  for (auto it = lo; it != hi && moved.size() < n2;) {
    moved.push_back(it->second);
    it = futex_waiters_.erase(it);
  }
  for (auto& w : moved) {
    if (Thread* t = find_thread(w.first)) t->futex_key = key2;
    futex_waiters_.emplace(key2, w);
  }
  return done + moved.size();
}

void Kernel::futex_forget(Thread& t) {
  if (!t.futex_key.second) return;
  auto [lo, hi] = futex_waiters_.equal_range(t.futex_key);
  for (auto it = lo; it != hi;)
    it = it->second.first == t.tid ? futex_waiters_.erase(it) : std::next(it);
  t.futex_key = {0, 0};
  t.futex_woken = false;
}

void Kernel::power_off() { powered_off_ = true; }

void Kernel::block_on(Process& p, fs::WaitQueue& q) {
  (void)p;
  Thread& t = current();
  t.state = Thread::State::kBlocked;
  t.waiting = Thread::Wait::kIo;
  int tid = t.tid;
  q.add([this, tid] {
    Thread* w = find_thread(tid);
    if (w && w->state == Thread::State::kBlocked && w->waiting == Thread::Wait::kIo) {
      w->state = Thread::State::kRunnable;
      w->waiting = Thread::Wait::kNone;
    }
  });
}

void Kernel::block_on_host(Process& p, int fd, short events) {
  block_on_host(p, {pollfd{fd, events, 0}}, 0);
}

void Kernel::block_on_host(Process& p, std::vector<pollfd> fds, uint64_t deadline_ns) {
  (void)p;
  Thread& t = current();
  t.state = Thread::State::kBlocked;
  t.waiting = Thread::Wait::kHostFd;
  t.wait_host = std::move(fds);
  if (deadline_ns) t.sleep_deadline = deadline_ns;
}

void Kernel::block_on_host(Process& p, std::vector<pollfd> fds, uint64_t deadline_ns,
                           fs::WaitQueue& q) {
  block_on_host(p, std::move(fds), deadline_ns);
  int tid = current().tid;
  q.add([this, tid] {
    Thread* w = find_thread(tid);
    if (w && w->state == Thread::State::kBlocked && w->waiting == Thread::Wait::kHostFd) {
      w->state = Thread::State::kRunnable;
      w->waiting = Thread::Wait::kNone;
      w->wait_host.clear();
    }
  });
}

bool Kernel::poll_host_fds(int timeout_ms) {
  std::vector<pollfd> fds;
  std::vector<Thread*> who;  // per fd; null for the console's signal event
  for (auto& [tid, t] : threads_) {
    if (t->state != Thread::State::kBlocked || t->waiting != Thread::Wait::kHostFd) continue;
    for (const pollfd& f : t->wait_host) {
      fds.push_back({f.fd, f.events, 0});
      who.push_back(t);
    }
  }
  if (console_signals_ && console_signals_->active()) {
    fds.push_back({console_signals_->event_fd(), POLLIN, 0});
    who.push_back(nullptr);
  }
  if (fds.empty()) return false;
  int n = ::poll(fds.data(), fds.size(), timeout_ms);
  if (n <= 0) return false;
  for (size_t i = 0; i < fds.size(); ++i) {
    if (!fds[i].revents || !who[i]) continue;
    Thread* t = who[i];
    if (t->state != Thread::State::kBlocked || t->waiting != Thread::Wait::kHostFd) continue;
    t->state = Thread::State::kRunnable;
    t->waiting = Thread::Wait::kNone;
    t->wait_host.clear();
  }
  return true;
}

bool Kernel::group_exists(int pgid) {
  return std::any_of(procs_.begin(), procs_.end(), [pgid](const auto& e) {
    return !e.second->zombie() && e.second->pgid == pgid;
  });
}

void Kernel::forward_console_signals() {
  if (!console_signals_ || !ConsoleSignals::pending()) return;
  uint64_t caught = console_signals_->take();
  for (int sig : {SIGINT, SIGQUIT, SIGTSTP}) {
    if (!(caught & (uint64_t{1} << sig))) continue;
    if (config_.strace)
      fmt::print(stderr, "--- console: signal {} to process group {} ---\n", sig, console_pgrp_);
    std::vector<Process*> group;
    for (auto& [pid, q] : procs_)
      if (!q->zombie() && q->pgid == console_pgrp_) group.push_back(q.get());
    siginfo_t si = {};
    si.si_code = SI_KERNEL;
    for (Process* q : group) signal(*q, sig, &si);
  }
}

void Kernel::interrupt(Thread& t) {
  if (t.state != Thread::State::kBlocked) return;
  if (t.waiting == Thread::Wait::kIo || t.waiting == Thread::Wait::kChild ||
      t.waiting == Thread::Wait::kSignal || t.waiting == Thread::Wait::kSleep ||
      t.waiting == Thread::Wait::kFutex || t.waiting == Thread::Wait::kHostFd) {
    t.state = Thread::State::kRunnable;
    t.waiting = Thread::Wait::kNone;
    t.interrupted = true;
  }
}

// A thread in rt_sigtimedwait for `sig` is woken to take it (not
// interrupted: its call runs again and finds the signal).
static bool wake_sigwaiter(Thread& t, int sig) {
  if (!(t.sigwait_set & sigbit(sig)) || t.state != Thread::State::kBlocked ||
      t.waiting != Thread::Wait::kSignal)
    return false;
  t.state = Thread::State::kRunnable;
  t.waiting = Thread::Wait::kNone;
  return true;
}

void Kernel::interrupt_for(Process& p, int sig) {
  for (Thread* t : p.live_threads())
    if (wake_sigwaiter(*t, sig)) return;
  // A thread already able to take it will (at its next run); else wake one
  // blocked thread that does not block it.
  Thread* blocked = nullptr;
  for (Thread* t : p.live_threads()) {
    if (t->sigmask & sigbit(sig)) continue;
    if (t->state == Thread::State::kRunnable) return;
    if (!blocked) blocked = t;
  }
  if (blocked) interrupt(*blocked);
}

bool Kernel::act_on_signal(Process& p, int sig, bool takeable) {
  if (sig == SIGKILL) {
    exit_process(p, SIGKILL);
    return true;
  }
  if (sig == SIGCONT && p.stopped) {
    p.stopped = false;  // continues even when SIGCONT is ignored or caught
    p.stop_reported = true;
  }
  const GuestSigaction& act = p.sigactions[sig];
  if (sig != SIGSTOP && act.handler == reinterpret_cast<uint64_t>(SIG_IGN)) return true;
  if (sig != SIGSTOP && act.handler != reinterpret_cast<uint64_t>(SIG_DFL)) return false;
  DefaultAction da = default_action(sig);
  if (da == DefaultAction::kStop) {
    stop_process(p, sig);
    return true;
  }
  if (da != DefaultAction::kTerminate && da != DefaultAction::kCore) return true;
  if (!takeable) return false;  // pending until a thread unblocks it
  exit_process(p, sig);         // fatal to the whole process
  return true;
}

namespace {
siginfo_t filled(int sig, const siginfo_t* info) {
  siginfo_t si = {};
  if (info) si = *info;
  si.si_signo = sig;
  return si;
}
}  // namespace

void Kernel::signal(Process& p, int sig, const siginfo_t* info) {
  if (sig <= 0 || sig > 64 || p.zombie()) return;
  auto threads = p.live_threads();
  bool takeable = std::any_of(threads.begin(), threads.end(),
                              [sig](Thread* t) { return !(t->sigmask & sigbit(sig)); });
  if (act_on_signal(p, sig, takeable)) return;
  p.pending |= sigbit(sig);
  p.pending_info[sig] = filled(sig, info);
  interrupt_for(p, sig);
}

void Kernel::signal_thread(Thread& t, int sig, const siginfo_t* info) {
  Process& p = *t.process;
  if (sig <= 0 || sig > 64 || t.dead() || p.zombie()) return;
  if (act_on_signal(p, sig, !(t.sigmask & sigbit(sig)))) return;
  t.pending |= sigbit(sig);
  t.pending_info[sig] = filled(sig, info);
  if (!wake_sigwaiter(t, sig) && !(t.sigmask & sigbit(sig))) interrupt(t);
}

void Kernel::stop_process(Process& t, int sig) {
  if (t.stopped) return;
  t.stopped = true;
  t.stop_signal = sig;
  t.stop_reported = false;
  Process* parent = find(t.ppid);
  if (!parent) return;
  wake_child_waiters(*parent);
  if (!(parent->sigactions[SIGCHLD].flags & SA_NOCLDSTOP)) {
    siginfo_t si = {};
    si.si_code = CLD_STOPPED;
    si.si_pid = t.pid;
    si.si_status = sig;
    signal(*parent, SIGCHLD, &si);
  }
}

void Kernel::force_signal(Thread& t, int sig, const siginfo_t& info) {
  // As Linux's force_sig: a blocked or ignored synchronous signal cannot be
  // held back; it gets its default action.
  GuestSigaction& act = t.process->sigactions[sig];
  if ((t.sigmask & sigbit(sig)) || act.handler == reinterpret_cast<uint64_t>(SIG_IGN)) {
    act = GuestSigaction{};
    t.sigmask &= ~sigbit(sig);
  }
  signal_thread(t, sig, &info);
}

namespace {
// The lowest signal t can take now: thread-directed first, then the
// process's. 0 when none.
int next_signal(const Thread& t) {
  uint64_t own = t.pending & ~t.sigmask;
  if (own) return __builtin_ctzll(own) + 1;
  uint64_t shared = t.process->pending & ~t.sigmask;
  return shared ? __builtin_ctzll(shared) + 1 : 0;
}
}  // namespace

void Kernel::finish_interrupted_syscall(Thread& t) {
  futex_forget(t);
  t.sigwait_set = 0;
  t.connect_pending = false;
  t.wait_host.clear();
  t.interrupted = false;
  t.sleep_deadline = 0;
  t.poll_deadline = 0;
  t.in_syscall = false;
  int sig = next_signal(t);
  uint64_t nr = t.regs.orig_rax;
  // epoll_wait is never restarted (signal(7)).
  bool restartable = nr != SYS_pause && nr != SYS_rt_sigsuspend && nr != SYS_nanosleep &&
                     nr != SYS_clock_nanosleep && nr != SYS_epoll_wait && nr != SYS_epoll_pwait &&
                     nr != SYS_epoll_pwait2;
  bool restart = sig && (t.process->sigactions[sig].flags & SA_RESTART) && restartable;
  if (restart) {
    t.regs.rax = nr;
    t.regs.rip -= 2;  // back onto the syscall instruction
  } else {
    t.regs.rax = static_cast<uint64_t>(-EINTR);
  }
  if (config_.strace)
    fmt::print(stderr, "[{}] syscall {} interrupted by signal {}: {}\n", t.tid, nr, sig,
               restart ? "restarted" : "EINTR");
}

void Kernel::deliver_signals(Thread& t) {
  Process& p = *t.process;
  while (t.state == Thread::State::kRunnable && !p.zombie()) {
    int sig = next_signal(t);
    if (!sig) return;
    siginfo_t info;
    if (t.pending & ~t.sigmask & sigbit(sig)) {
      t.pending &= ~sigbit(sig);
      info = t.pending_info[sig];
    } else {
      p.pending &= ~sigbit(sig);
      info = p.pending_info[sig];
    }
    const GuestSigaction& act = p.sigactions[sig];
    if (act.handler == reinterpret_cast<uint64_t>(SIG_IGN)) continue;
    if (act.handler == reinterpret_cast<uint64_t>(SIG_DFL)) {
      DefaultAction da = default_action(sig);
      if (da == DefaultAction::kTerminate || da == DefaultAction::kCore) exit_process(p, sig);
      continue;
    }
    if (config_.strace) fmt::print(stderr, "[{}] --- signal {} delivered ---\n", t.tid, sig);
    if (!setup_frame(t, sig, info).ok()) exit_process(p, SIGSEGV);
  }
}

void Kernel::dispatch(Thread& t) {
  Process& p = *t.process;
  uint64_t nr = t.regs.orig_rax;
  syscalls::SyscallArgs args{
      {t.regs.rdi, t.regs.rsi, t.regs.rdx, t.regs.r10, t.regs.r8, t.regs.r9}};
  const syscalls::SyscallInfo* info = syscalls::find_syscall(nr);
  std::string call;
  if (config_.strace) call = syscalls::format_call(info, nr, args, p.mm.get());
  Result<uint64_t> r = Errno(ENOSYS);
  current_ = &t;
  if (info && info->handler) {
    r = info->handler(*this, p, t, args);
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
    if (t.state == Thread::State::kBlocked) return;  // dispatched again when woken
    r = Errno(EINTR);
  }
  t.in_syscall = false;
  t.sleep_deadline = 0;
  t.poll_deadline = 0;
  int tid = t.tid;
  if (t.dead() || p.zombie()) {
    if (config_.strace) fmt::print(stderr, "[{}] {} = ?\n", tid, call);
    return;
  }
  t.regs.rax = r.ok() ? *r : static_cast<uint64_t>(-static_cast<int64_t>(r.error().code));
  if (config_.strace)
    fmt::print(stderr, "[{}] {} {}\n", tid, call, syscalls::format_result(info, r));
}

void Kernel::run_thread(Thread& t) {
  using Kind = platform::SwitchResult::Kind;
  Process& p = *t.process;
  uint64_t slice_end = now_ns() + kTimeSliceNs;
  // With other threads waiting to run, guest code gets a time slice (even
  // between syscalls, through the platform) and so do syscall-heavy runs.
  auto others_runnable = [this, &t] {
    return std::any_of(threads_.begin(), threads_.end(),
                       [&t](const auto& e) { return e.second != &t && e.second->runnable(); });
  };
  // A pending timer (an alarm, a sleeper's deadline) counts as competition:
  // guest code that makes no stopping syscall would otherwise hold the
  // kernel past it.
  auto competition = [&] { return others_runnable() || next_timer_ns_ || p.alarm_deadline; };
  bool others = competition();
  // A terminal console's keyboard signals must reach a guest that computes
  // without syscalls: it is sent back to the scheduler now and then.
  const bool console = console_signals_ && console_signals_->active();
  platform_->set_time_slice(others ? kTimeSliceNs : console ? kConsoleSliceNs : 0);
  while (t.runnable() && !powered_off_) {
    if (t.in_syscall && t.interrupted) finish_interrupted_syscall(t);
    if (t.in_syscall) {
      dispatch(t);
      // A syscall (clone, a wake-up, alarm) may have given t competition.
      if (!others && (others = competition())) platform_->set_time_slice(kTimeSliceNs);
      continue;
    }
    if (t.yield) {
      t.yield = false;
      break;
    }
    if (others && now_ns() >= slice_end) break;
    if (console && ConsoleSignals::pending()) break;
    if (p.alarm_deadline && p.alarm_deadline <= now_ns()) run_timers();
    deliver_signals(t);
    if (!t.runnable()) break;
    t.context->set_ids({.pid = p.pid, .tid = t.tid, .ppid = p.ppid, .pgrp = p.pgid});
    auto ev = t.context->switch_to(t.regs);
    if (!ev.ok()) {
      spdlog::error("pid {} tid {}: lost its address space ({})", p.pid, t.tid,
                    std::strerror(ev.error().code));
      exit_process(p, SIGKILL);
      break;
    }
    switch (ev->kind) {
      case Kind::kSyscall:
        if (!ev->native_abi) {
          t.regs.rax = static_cast<uint64_t>(-ENOSYS);  // no 32-bit ABI
          break;
        }
        t.in_syscall = true;
        break;
      case Kind::kFault:
        if (!p.mm->handle_fault(ev->fault_addr, ev->signo == SIGBUS).ok()) {
          spdlog::info("pid {} ({}): segfault at {:#x} ip {:#x}", t.tid, p.comm, ev->fault_addr,
                       t.regs.rip);
          siginfo_t si = {};
          si.si_code = SEGV_MAPERR;
          si.si_addr = reinterpret_cast<void*>(ev->fault_addr);
          force_signal(t, ev->signo ? ev->signo : SIGSEGV, si);
        }
        break;
      case Kind::kSignal:
        // A synchronous trap of the guest's own (int3, ud2, divide error...).
        if (ev->signo == SIGTRAP || ev->signo == SIGILL || ev->signo == SIGFPE ||
            ev->signo == SIGBUS || ev->signo == SIGSYS || ev->signo == SIGSEGV ||
            ev->signo == SIGABRT) {
          siginfo_t si = {};
          si.si_code = SI_KERNEL;
          force_signal(t, ev->signo, si);
        }
        break;
      case Kind::kExit:
        spdlog::error("pid {}: its stub died (host status {:#x})", p.pid, ev->wait_status);
        exit_process(p, SIGKILL);
        break;
      case Kind::kPreempted:
        t.yield = true;  // the registers are as interrupted: resume them later
        break;
    }
  }
  current_ = nullptr;
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
  Thread& first = add_thread(p, p.pid);
  procs_.emplace(p.pid, std::move(*proc));
  if (auto r = load_program(first, init, std::move(argv), std::move(envp), 0); !r.ok()) {
    threads_.clear();
    procs_.clear();
    return base::Error::from_errno("starting init " + init, r.error().code);
  }

  ConsoleSignals console_signals(config_.console_in);
  console_signals_ = &console_signals;
  struct Unset {
    ConsoleSignals*& p;
    ~Unset() { p = nullptr; }
  } unset{console_signals_};
  int last = 0;
  while (!powered_off_) {
    forward_console_signals();
    free_dead_threads();
    Process* initp = find(1);
    if (!initp || initp->zombie()) break;
    // Round robin over runnable threads, starting after the last one run.
    Thread* next = nullptr;
    for (auto it = threads_.upper_bound(last); it != threads_.end() && !next; ++it)
      if (it->second->runnable()) next = it->second;
    for (auto it = threads_.begin(); it != threads_.end() && !next; ++it)
      if (it->second->runnable()) next = it->second;
    uint64_t deadline = run_timers();
    next_timer_ns_ = deadline;
    poll_host_fds(0);
    if (!next) {
      for (auto it = threads_.begin(); it != threads_.end() && !next; ++it)
        if (it->second->runnable()) next = it->second;
    }
    if (!next) {
      // Nothing runnable: wait for a host fd, up to the next timer.
      int timeout = -1;
      if (deadline) {
        uint64_t now = now_ns();
        timeout = deadline > now ? static_cast<int>((deadline - now) / 1000000 + 1) : 0;
      }
      if (poll_host_fds(timeout)) continue;
      if (!deadline && !console_signals.active() &&
          std::none_of(threads_.begin(), threads_.end(), [](const auto& e) {
            return e.second->state == Thread::State::kBlocked &&
                   e.second->waiting == Thread::Wait::kHostFd;
          })) {
        threads_.clear();
        procs_.clear();
        return base::Error("every guest process is blocked: nothing can run", EDEADLK);
      }
      // The poll waited for the console's signals too (an EINTR ends it
      // early: look again).
      if (!deadline || console_signals.active()) continue;
      // Nothing to run until a timer: sleep the kernel thread until then.
      struct timespec ts = {static_cast<time_t>(deadline / 1000000000),
                            static_cast<long>(deadline % 1000000000)};
      while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
      }
      continue;
    }
    last = next->tid;
    run_thread(*next);
  }
  int status = 0;
  if (!powered_off_) status = exit_code_of(find(1)->wait_status);
  threads_.clear();
  procs_.clear();
  return status;
}

}  // namespace kernel::task
