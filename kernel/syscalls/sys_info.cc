// System information and time: uname, clocks, random, limits, sleeping.

#include <sched.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/utsname.h>
#include <time.h>

#include <cstring>

#include "kernel/syscalls/handlers.h"
#include "kernel/syscalls/util.h"

namespace kernel::syscalls {
namespace {

// The guest's own identity: a Linux of our own version, not the host's.
constexpr const char* kRelease = "6.1.0-pangaea";
constexpr const char* kVersion = "#1 SMP PREEMPT pangaea";

Result<struct rlimit> limit_of(int resource) {
  switch (resource) {
    case RLIMIT_STACK:
      return rlimit{mm::kStackSize, RLIM_INFINITY};
    case RLIMIT_NOFILE:
      return rlimit{fs::kMaxFds, fs::kMaxFds};
    case RLIMIT_CORE:
      return rlimit{0, RLIM_INFINITY};
    case RLIMIT_NPROC:
      return rlimit{4096, 4096};
    case RLIMIT_MEMLOCK:
      return rlimit{8 << 20, 8 << 20};
    case RLIMIT_SIGPENDING:
      return rlimit{4096, 4096};
    case RLIMIT_MSGQUEUE:
      return rlimit{819200, 819200};
    default:
      if (resource < 0 || resource >= RLIM_NLIMITS) return Errno(EINVAL);
      return rlimit{RLIM_INFINITY, RLIM_INFINITY};
  }
}

// Sleeps by blocking the thread until its deadline; other threads run.
Result<uint64_t> sleep_until(task::Thread& t, uint64_t deadline) {
  if (task::Kernel::now_ns() >= deadline) return 0;
  t.sleep_deadline = deadline;
  t.state = task::Thread::State::kBlocked;
  t.waiting = task::Thread::Wait::kSleep;
  return Errno(kRestart);
}

Result<uint64_t> do_sleep(task::Process& p, task::Thread& t, uint64_t req) {
  // A re-dispatch after the wake-up finds the deadline set.
  if (t.sleep_deadline) return sleep_until(t, t.sleep_deadline);
  struct timespec ts = TRY(p.mm->copy_in(mm::UserPtr<struct timespec>(req)));
  if (ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000 || ts.tv_sec < 0) return Errno(EINVAL);
  uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
  return sleep_until(t, task::Kernel::now_ns() + ns);
}

uint64_t to_ns(const struct timeval& tv) {
  return static_cast<uint64_t>(tv.tv_sec) * 1000000000ull +
         static_cast<uint64_t>(tv.tv_usec) * 1000;
}

struct timeval to_timeval(uint64_t ns) {
  return {static_cast<time_t>(ns / 1000000000), static_cast<suseconds_t>((ns % 1000000000) / 1000)};
}

}  // namespace

PANGAEA_SYSCALL(uname) {
  struct utsname u = {};
  std::strncpy(u.sysname, "Linux", sizeof(u.sysname) - 1);
  std::strncpy(u.nodename, k.hostname().c_str(), sizeof(u.nodename) - 1);
  std::strncpy(u.release, kRelease, sizeof(u.release) - 1);
  std::strncpy(u.version, kVersion, sizeof(u.version) - 1);
  std::strncpy(u.machine, "x86_64", sizeof(u.machine) - 1);
  std::strncpy(u.domainname, "(none)", sizeof(u.domainname) - 1);
  TRY(p.mm->copy_out(mm::UserPtr<struct utsname>(a.a[0]), u));
  return 0;
}

PANGAEA_SYSCALL(sethostname) {
  uint64_t len = a.a[1];
  if (len > 64) return Errno(EINVAL);
  std::string name(len, '\0');
  TRY(p.mm->copy_in(a.a[0], name.data(), len));
  k.hostname() = name;
  return 0;
}

PANGAEA_SYSCALL(clock_gettime) {
  (void)k;
  struct timespec ts;
  if (::clock_gettime(arg_int(a.a[0]), &ts) < 0) return Errno::last();
  TRY(p.mm->copy_out(mm::UserPtr<struct timespec>(a.a[1]), ts));
  return 0;
}

PANGAEA_SYSCALL(gettimeofday) {
  (void)k;
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  if (a.a[0]) {
    struct timeval tv = {ts.tv_sec, ts.tv_nsec / 1000};
    TRY(p.mm->copy_out(mm::UserPtr<struct timeval>(a.a[0]), tv));
  }
  if (a.a[1]) {
    struct timezone tz = {};
    TRY(p.mm->copy_out(mm::UserPtr<struct timezone>(a.a[1]), tz));
  }
  return 0;
}

PANGAEA_SYSCALL(time) {
  (void)k;
  int64_t now = ::time(nullptr);
  if (a.a[0]) TRY(p.mm->copy_out(mm::UserPtr<int64_t>(a.a[0]), now));
  return static_cast<uint64_t>(now);
}

PANGAEA_SYSCALL(getrandom) {
  (void)k;
  uint64_t len = std::min<uint64_t>(a.a[1], 1 << 20);
  if (a.a[2] & ~(GRND_NONBLOCK | GRND_RANDOM | 0x4 /* GRND_INSECURE */)) return Errno(EINVAL);
  std::vector<uint8_t> buf(len);
  ssize_t n = ::getrandom(buf.data(), len, 0);
  if (n < 0) return Errno::last();
  TRY(p.mm->copy_out(a.a[0], buf.data(), n));
  return static_cast<uint64_t>(n);
}

PANGAEA_SYSCALL(prlimit64) {
  int pid = arg_int(a.a[0]);
  if (pid != 0 && pid != p.pid && !k.find(pid)) return Errno(ESRCH);
  struct rlimit lim = TRY(limit_of(arg_int(a.a[1])));
  if (a.a[3]) TRY(p.mm->copy_out(mm::UserPtr<struct rlimit>(a.a[3]), lim));
  return 0;
}

PANGAEA_SYSCALL(getrlimit) {
  (void)k;
  struct rlimit lim = TRY(limit_of(arg_int(a.a[0])));
  TRY(p.mm->copy_out(mm::UserPtr<struct rlimit>(a.a[1]), lim));
  return 0;
}

PANGAEA_SYSCALL(sched_yield) {
  (void)k, (void)p, (void)a;
  t.yield = true;  // the other runnable threads go first
  return 0;
}

PANGAEA_SYSCALL(sysinfo) {
  struct sysinfo si = {};
  struct timespec ts;
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  si.uptime = static_cast<long>(k.uptime());
  si.totalram = k.frames().frame_count();
  si.freeram = k.frames().frame_count() - k.frames().used();
  si.mem_unit = 4096;
  si.procs = static_cast<uint16_t>(k.children_of(-1).size());
  TRY(p.mm->copy_out(mm::UserPtr<struct sysinfo>(a.a[0]), si));
  return 0;
}

PANGAEA_SYSCALL(nanosleep) {
  (void)k;
  return do_sleep(p, t, a.a[0]);
}

PANGAEA_SYSCALL(clock_nanosleep) {
  (void)k;
  if ((a.a[1] & TIMER_ABSTIME) && !t.sleep_deadline) {
    struct timespec ts = TRY(p.mm->copy_in(mm::UserPtr<struct timespec>(a.a[2])));
    struct timespec now;
    if (::clock_gettime(arg_int(a.a[0]), &now) < 0) return Errno::last();
    int64_t left = (ts.tv_sec - now.tv_sec) * 1000000000ll + (ts.tv_nsec - now.tv_nsec);
    return sleep_until(t, task::Kernel::now_ns() + (left > 0 ? left : 0));
  }
  return do_sleep(p, t, a.a[2]);
}

PANGAEA_SYSCALL(alarm) {
  (void)k;
  uint64_t now = task::Kernel::now_ns();
  uint64_t left = p.alarm_deadline > now ? p.alarm_deadline - now : 0;
  p.alarm_deadline = a.a[0] ? now + (a.a[0] & 0xffffffff) * 1000000000ull : 0;
  p.alarm_interval = 0;
  return (left + 999999999) / 1000000000;
}

PANGAEA_SYSCALL(setitimer) {
  (void)k;
  if (arg_int(a.a[0]) != ITIMER_REAL) return Errno(EINVAL);
  uint64_t now = task::Kernel::now_ns();
  struct itimerval old = {to_timeval(p.alarm_interval),
                          to_timeval(p.alarm_deadline > now ? p.alarm_deadline - now : 0)};
  if (a.a[1]) {
    struct itimerval nv = TRY(p.mm->copy_in(mm::UserPtr<struct itimerval>(a.a[1])));
    if (nv.it_value.tv_usec < 0 || nv.it_value.tv_usec >= 1000000 || nv.it_value.tv_sec < 0)
      return Errno(EINVAL);
    uint64_t v = to_ns(nv.it_value);
    p.alarm_deadline = v ? now + v : 0;
    p.alarm_interval = to_ns(nv.it_interval);
  }
  if (a.a[2]) TRY(p.mm->copy_out(mm::UserPtr<struct itimerval>(a.a[2]), old));
  return 0;
}

PANGAEA_SYSCALL(getitimer) {
  (void)k;
  if (arg_int(a.a[0]) != ITIMER_REAL) return Errno(EINVAL);
  uint64_t now = task::Kernel::now_ns();
  struct itimerval cur = {to_timeval(p.alarm_interval),
                          to_timeval(p.alarm_deadline > now ? p.alarm_deadline - now : 0)};
  TRY(p.mm->copy_out(mm::UserPtr<struct itimerval>(a.a[1]), cur));
  return 0;
}

PANGAEA_SYSCALL(getcpu) {
  (void)k;
  unsigned zero = 0;
  if (a.a[0]) TRY(p.mm->copy_out(mm::UserPtr<unsigned>(a.a[0]), zero));
  if (a.a[1]) TRY(p.mm->copy_out(mm::UserPtr<unsigned>(a.a[1]), zero));
  return 0;
}

PANGAEA_SYSCALL(sched_getaffinity) {
  (void)k;
  uint64_t len = a.a[1];
  if (len < 8 || len % 8) return Errno(EINVAL);
  uint64_t mask = 1;
  TRY(p.mm->copy_out(mm::UserPtr<uint64_t>(a.a[2]), mask));
  return 8;
}

}  // namespace kernel::syscalls

namespace kernel::syscalls {

// The guest runs as root and every identity change succeeds: uid/gid are
// not modelled yet (all 0).
PANGAEA_SYSCALL(set_identity) {
  (void)k, (void)p, (void)a;
  return 0;
}

PANGAEA_SYSCALL(getresuid) {
  (void)k;
  uint32_t zero = 0;
  for (int i = 0; i < 3; ++i)
    if (a.a[i]) TRY(p.mm->copy_out(mm::UserPtr<uint32_t>(a.a[i]), zero));
  return 0;
}

PANGAEA_SYSCALL(getgroups) {
  (void)k, (void)p;
  if (static_cast<int>(a.a[0]) < 0) return Errno(EINVAL);
  return 0;  // no supplementary groups
}

PANGAEA_SYSCALL(times) {
  struct tms tm = {};
  double up = k.uptime();
  if (a.a[0]) TRY(p.mm->copy_out(mm::UserPtr<struct tms>(a.a[0]), tm));
  return static_cast<uint64_t>(up * 100);
}

PANGAEA_SYSCALL(getrusage) {
  (void)k;
  int who = arg_int(a.a[0]);
  if (who != RUSAGE_SELF && who != RUSAGE_CHILDREN && who != RUSAGE_THREAD) return Errno(EINVAL);
  struct rusage ru = {};
  if (p.mm) ru.ru_maxrss = static_cast<long>(p.mm->resident_pages() * 4);
  TRY(p.mm->copy_out(mm::UserPtr<struct rusage>(a.a[1]), ru));
  return 0;
}

PANGAEA_SYSCALL(getpriority) {
  (void)k, (void)p, (void)a;
  return 20;  // nice 0, in the kernel's 40-nice encoding
}

PANGAEA_SYSCALL(sched_getparam) {
  (void)k;
  int zero = 0;
  TRY(p.mm->copy_out(mm::UserPtr<int>(a.a[1]), zero));
  return 0;
}

PANGAEA_SYSCALL(sched_getscheduler) {
  (void)k, (void)p, (void)a;
  return 0;  // SCHED_OTHER
}

}  // namespace kernel::syscalls
