#include "kernel/syscalls/table.h"

#include <fmt/format.h>

#include <algorithm>

#include "kernel/syscalls/handlers.h"
#include "kernel/syscalls/names.h"

namespace kernel::syscalls {
namespace {

constexpr Support S = Support::kSupported;
constexpr Support P = Support::kPartial;
constexpr Support N = Support::kNone;

struct Entry {
  const char* name;
  Handler handler;
  Support support;
  const char* note;
  const char* args;
};

// Implemented syscalls and documented refusals, by name.
const Entry kEntries[] = {
    {"read", sys_read, S, "", "dxD"},
    {"write", sys_write, S, "", "dxD"},
    {"readv", sys_readv, S, "", "dxd"},
    {"writev", sys_writev, S, "", "dxd"},
    {"pread64", sys_pread64, S, "", "dxdd"},
    {"pwrite64", sys_pwrite64, S, "", "dxdd"},
    {"open", sys_open, S, "", "sxo"},
    {"openat", sys_openat, S, "", "dsxo"},
    {"close", sys_close, S, "", "d"},
    {"fstat", sys_fstat, S, "", "dx"},
    {"stat", sys_stat, S, "", "sx"},
    {"lstat", sys_lstat, S, "", "sx"},
    {"newfstatat", sys_newfstatat, S, "", "dsxx"},
    {"lseek", sys_lseek, S, "", "ddd"},
    {"ioctl", sys_ioctl, P,
     "TCGETS, TCSETS*, TIOCGWINSZ, FIONREAD, TIOCGPGRP/TIOCSPGRP; FIONBIO, FIOCLEX, FIONCLEX on "
     "any fd; SIOCINQ/SIOCOUTQ on unix sockets",
     "dxx"},
    {"getcwd", sys_getcwd, S, "", "xd"},
    {"chdir", sys_chdir, S, "", "s"},
    {"fchdir", sys_fchdir, S, "", "d"},
    {"getdents64", sys_getdents64, S, "", "dxd"},
    {"readlink", sys_readlink, S, "", "sxd"},
    {"readlinkat", sys_readlinkat, S, "", "dsxd"},
    {"access", sys_access, S, "", "so"},
    {"faccessat", sys_faccessat, S, "", "dso"},
    {"faccessat2", sys_faccessat2, S, "", "dsox"},
    {"dup", sys_dup, S, "", "d"},
    {"dup2", sys_dup2, S, "", "dd"},
    {"dup3", sys_dup3, S, "", "ddx"},
    {"fcntl", sys_fcntl, P, "F_DUPFD*, F_GETFD/SETFD, F_GETFL/SETFL; no locks", "ddx"},
    {"mkdir", sys_mkdir, S, "", "so"},
    {"mkdirat", sys_mkdirat, S, "", "dso"},
    {"unlink", sys_unlink, S, "", "s"},
    {"unlinkat", sys_unlinkat, S, "", "dsx"},
    {"rmdir", sys_rmdir, S, "", "s"},
    {"umask", sys_umask, S, "", "o"},
    {"rename", sys_rename, S, "", "ss"},
    {"renameat", sys_renameat, S, "", "dsds"},
    {"renameat2", sys_renameat2, P, "RENAME_NOREPLACE, RENAME_EXCHANGE", "dsdsx"},
    {"link", sys_link, S, "", "ss"},
    {"linkat", sys_linkat, S, "", "dsdsx"},
    {"symlink", sys_symlink, S, "", "ss"},
    {"symlinkat", sys_symlinkat, S, "", "sds"},
    {"chmod", sys_chmod, S, "", "so"},
    {"fchmodat", sys_fchmodat, S, "", "dso"},
    {"fchmod", sys_fchmod, S, "", "do"},
    {"chown", sys_chown, S, "", "sdd"},
    {"lchown", sys_lchown, S, "", "sdd"},
    {"fchownat", sys_fchownat, S, "", "dsddx"},
    {"fchown", sys_fchown, S, "", "ddd"},
    {"truncate", sys_truncate, S, "", "sD"},
    {"ftruncate", sys_ftruncate, S, "", "dD"},
    {"fsync", sys_fsync, S, "", "d"},
    {"fdatasync", sys_fsync, S, "", "d"},
    {"sync", sys_sync, S, "", ""},
    {"syncfs", sys_fsync, S, "", "d"},
    {"utimensat", sys_utimensat, S, "", "dsxx"},
    {"statx", sys_statx, S, "", "dsxxx"},
    {"statfs", sys_statfs, S, "", "sx"},
    {"fstatfs", sys_fstatfs, S, "", "dx"},
    {"fadvise64", sys_fadvise64, P, "advice accepted and ignored", "dDDd"},
    {"flock", sys_flock, P, "never blocks: a held lock is EWOULDBLOCK", "dd"},
    {"sendfile", sys_sendfile, P, "between host files only; else EINVAL (callers fall back)",
     "ddxD"},
    {"creat", sys_creat, S, "", "so"},
    {"getxattr", sys_getxattr, P,
     "no extended attributes yet: get is ENODATA, list is empty, set is EOPNOTSUPP", "sxxD"},
    {"lgetxattr", sys_getxattr, P,
     "no extended attributes yet: get is ENODATA, list is empty, set is EOPNOTSUPP", "sxxD"},
    {"fgetxattr", sys_getxattr, P,
     "no extended attributes yet: get is ENODATA, list is empty, set is EOPNOTSUPP", "sxxD"},
    {"listxattr", sys_listxattr, P,
     "no extended attributes yet: get is ENODATA, list is empty, set is EOPNOTSUPP", "sxxD"},
    {"llistxattr", sys_listxattr, P,
     "no extended attributes yet: get is ENODATA, list is empty, set is EOPNOTSUPP", "sxxD"},
    {"flistxattr", sys_listxattr, P,
     "no extended attributes yet: get is ENODATA, list is empty, set is EOPNOTSUPP", "sxxD"},
    {"setxattr", sys_setxattr, P,
     "no extended attributes yet: get is ENODATA, list is empty, set is EOPNOTSUPP", "sxxD"},
    {"lsetxattr", sys_setxattr, P,
     "no extended attributes yet: get is ENODATA, list is empty, set is EOPNOTSUPP", "sxxD"},
    {"fsetxattr", sys_setxattr, P,
     "no extended attributes yet: get is ENODATA, list is empty, set is EOPNOTSUPP", "sxxD"},
    {"removexattr", sys_setxattr, P,
     "no extended attributes yet: get is ENODATA, list is empty, set is EOPNOTSUPP", "sxxD"},
    {"lremovexattr", sys_setxattr, P,
     "no extended attributes yet: get is ENODATA, list is empty, set is EOPNOTSUPP", "sxxD"},
    {"fremovexattr", sys_setxattr, P,
     "no extended attributes yet: get is ENODATA, list is empty, set is EOPNOTSUPP", "sxxD"},
    {"poll", sys_poll, P,
     "pipes wake it at once; host fds beside pipes are looked at every 5 ms (alone: at once)",
     "xdd"},
    {"ppoll", sys_ppoll, P, "as poll; the signal mask argument is ignored", "xdxx"},
    {"select", sys_select, P, "as poll", "dxxxx"},
    {"pselect6", sys_pselect6, P, "as poll; the signal mask argument is ignored", "dxxxxx"},
    {"epoll_create", sys_epoll_create, S, "", "d"},
    {"epoll_create1", sys_epoll_create1, S, "", "x"},
    {"epoll_ctl", sys_epoll_ctl, P,
     "host sockets and the console through a host epoll (its EPOLLET/ONESHOT/EXCLUSIVE); pipes "
     "and nested epolls (4 levels, ELOOP) in the kernel: EPOLLET reports once per wake-up of "
     "the file, EPOLLEXCLUSIVE accepted (wakes every waiter); EPOLLWAKEUP dropped",
     "dddx"},
    {"epoll_wait", sys_epoll_wait, S, "", "dxdd"},
    {"epoll_pwait", sys_epoll_pwait, S, "", "dxddxd"},
    {"epoll_pwait2", sys_epoll_pwait2, S, "", "dxdxxd"},
    {"eventfd", sys_eventfd, S, "", "d"},
    {"eventfd2", sys_eventfd2, S, "", "dx"},
    {"timerfd_create", sys_timerfd_create, P,
     "CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME (no *_ALARM clocks)", "ddx"},
    {"timerfd_settime", sys_timerfd_settime, P,
     "an absolute CLOCK_REALTIME time is fixed when set (a later clock change does not move "
     "it); TFD_TIMER_CANCEL_ON_SET accepted, never cancels",
     "dxxx"},
    {"timerfd_gettime", sys_timerfd_gettime, S, "", "dx"},
    {"socket", sys_socket, P,
     "AF_INET/AF_INET6 through the host; AF_UNIX the guest's own (names inside the root, private "
     "abstract namespace); other families EAFNOSUPPORT",
     "ddd"},
    {"socketpair", sys_socketpair, P, "AF_UNIX stream/dgram/seqpacket; SO_PEERCRED is the creator",
     "dddx"},
    {"connect", sys_connect, P,
     "AF_INET/AF_INET6 through the host; AF_UNIX: a path inside the root or a guest abstract name, "
     "never a host socket outside",
     "dxd"},
    {"bind", sys_bind, P,
     "AF_INET/AF_INET6 through the host; AF_UNIX: paths inside the root (any length), abstract "
     "names private to the boot, autobind",
     "dxd"},
    {"listen", sys_listen, P, "AF_INET/AF_INET6 through the host; AF_UNIX", "dd"},
    {"accept", sys_accept, P,
     "AF_INET/AF_INET6 through the host; AF_UNIX with guest peer addresses and credentials", "dxx"},
    {"accept4", sys_accept4, P,
     "AF_INET/AF_INET6 through the host; AF_UNIX with guest peer addresses and credentials",
     "dxxx"},
    {"getsockname", sys_getsockname, P,
     "AF_INET/AF_INET6 through the host; AF_UNIX answers guest addresses", "dxx"},
    {"getpeername", sys_getpeername, P,
     "AF_INET/AF_INET6 through the host; AF_UNIX answers guest addresses", "dxx"},
    {"sendto", sys_sendto, P, "AF_INET/AF_INET6 through the host; AF_UNIX with guest addresses",
     "dxDxxd"},
    {"recvfrom", sys_recvfrom, P, "AF_INET/AF_INET6 through the host; AF_UNIX with guest addresses",
     "dxDxxx"},
    {"setsockopt", sys_setsockopt, P, "AF_INET/AF_INET6 through the host; options through the host",
     "dddxd"},
    {"getsockopt", sys_getsockopt, P,
     "AF_INET/AF_INET6 through the host; AF_UNIX SO_PEERCRED gives guest pid/uid/gid (none for a "
     "peer outside the kernel, found by sock_diag; a peer closed before accept is matched by "
     "connect order); SO_PEERPIDFD refused",
     "dddxx"},
    {"shutdown", sys_shutdown, P, "AF_INET/AF_INET6 through the host; AF_UNIX", "dd"},
    {"sendmsg", sys_sendmsg, P,
     "AF_INET/AF_INET6 through the host, control messages dropped; AF_UNIX: SCM_RIGHTS passes "
     "guest files of any kind (host tokens, fs/unix_socket.h); SCM_CREDENTIALS only the "
     "sender's own (else EPERM); the files of a message never received close with the "
     "receiving socket (not those of an unaccepted connection)",
     "dxx"},
    {"recvmsg", sys_recvmsg, P,
     "AF_INET/AF_INET6 through the host; AF_UNIX with guest addresses, SCM_RIGHTS (MSG_CTRUNC, "
     "MSG_CMSG_CLOEXEC, MSG_PEEK); SO_PASSCRED gives guest credentials: a connection's "
     "SO_PEERCRED process (not the sender after a fork), a named datagram sender's creator, none "
     "for an unnamed datagram sender",
     "dxx"},
    {"pipe", sys_pipe, S, "", "x"},
    {"pipe2", sys_pipe2, S, "", "xx"},

    {"mmap", sys_mmap, P, "shared file pages reach read(2) at msync/munmap/exit", "xdxxdx"},
    {"munmap", sys_munmap, S, "", "xd"},
    {"mprotect", sys_mprotect, S, "", "xdx"},
    {"brk", sys_brk, S, "", "x"},
    {"mremap", sys_mremap, P, "MREMAP_DONTUNMAP not supported", "xDDxx"},
    {"mlock", sys_mlock, S, "", "xD"},
    {"munlock", sys_mlock, S, "", "xD"},
    {"mlockall", sys_mlock, S, "", "x"},
    {"munlockall", sys_mlock, S, "", ""},
    {"msync", sys_msync, P, "writes back at once (MS_ASYNC too)", "xDx"},
    {"madvise", sys_madvise, P, "advice accepted and ignored (MADV_DONTNEED zeroes)", "xdd"},

    {"exit", sys_exit, S, "", "d"},
    {"exit_group", sys_exit_group, S, "", "d"},
    {"getpid", sys_getpid, S, "", ""},
    {"gettid", sys_gettid, S, "", ""},
    {"getppid", sys_getppid, S, "", ""},
    {"getpgrp", sys_getpgrp, S, "", ""},
    {"getpgid", sys_getpgid, S, "", "d"},
    {"setpgid", sys_setpgid, S, "", "dd"},
    {"getsid", sys_getsid, S, "", "d"},
    {"setsid", sys_setsid, S, "", ""},
    {"getuid", sys_getuid, S, "the guest runs as root", ""},
    {"geteuid", sys_getuid, S, "the guest runs as root", ""},
    {"getgid", sys_getuid, S, "the guest runs as root", ""},
    {"getegid", sys_getuid, S, "the guest runs as root", ""},
    {"arch_prctl", sys_arch_prctl, P, "ARCH_SET_FS/GET_FS/SET_GS/GET_GS", "xx"},
    {"set_tid_address", sys_set_tid_address, S, "", "x"},
    {"set_robust_list", sys_set_robust_list, S, "walked at thread exit and exec (no PI futexes)",
     "xd"},
    {"get_robust_list", sys_get_robust_list, S, "", "dxx"},
    {"rt_sigaction", sys_rt_sigaction, S, "", "dxxd"},
    {"rt_sigprocmask", sys_rt_sigprocmask, S, "", "dxxd"},
    {"rt_sigreturn", sys_rt_sigreturn, P, "x87/SSE state restored, AVX upper halves not", ""},
    {"sigaltstack", sys_sigaltstack, P, "SS_AUTODISARM accepted, not honoured", "xx"},
    {"rt_sigsuspend", sys_rt_sigsuspend, S, "", "xd"},
    {"pause", sys_pause, S, "", ""},
    {"rt_sigpending", sys_rt_sigpending, S, "", "xd"},
    {"rt_sigtimedwait", sys_rt_sigtimedwait, S, "", "xxxd"},
    {"clone", sys_clone, P,
     "CLONE_THREAD threads share memory, fds, cwd and signal actions (CLONE_FS/FILES are "
     "implied for them); a process child gets a copy of the memory, even with CLONE_VM; no "
     "namespaces, CLONE_PIDFD or CLONE_PARENT",
     "xxxxx"},
    {"clone3", sys_clone3, P, "as clone; no set_tid, cgroup or pidfd", "xd"},
    {"fork", sys_fork, P, "memory copied eagerly", ""},
    {"vfork", sys_vfork, P, "the child gets a copy; the parent waits for exec/exit", ""},
    {"execve", sys_execve, P, "static and static-pie ELF, #! scripts; no dynamic ELF yet", "sxx"},
    {"wait4", sys_wait4, P, "rusage is zero; WCONTINUED not reported", "dxxx"},
    {"futex", sys_futex, P,
     "WAIT, WAKE, their BITSET forms, REQUEUE and CMP_REQUEUE, keyed by frame (works between "
     "threads and across processes on shared memory); no WAKE_OP or PI",
     "xdDxxx"},
    {"waitid", sys_waitid, P, "exits only (WEXITED)", "ddxxx"},
    {"kill", sys_kill, S, "", "dd"},
    {"tgkill", sys_tgkill, S, "", "ddd"},
    {"tkill", sys_tkill, S, "", "dd"},
    {"reboot", sys_reboot, P, "RB_POWER_OFF, RB_HALT_SYSTEM, RB_AUTOBOOT end the boot", "xxxx"},

    {"prctl", sys_prctl, P, "PR_SET_NAME/GET_NAME, PR_SET_PDEATHSIG (recorded)", "dxxxx"},
    {"uname", sys_uname, S, "", "x"},
    {"clock_gettime", sys_clock_gettime, S, "", "dx"},
    {"gettimeofday", sys_gettimeofday, S, "", "xx"},
    {"time", sys_time, S, "", "x"},
    {"getrandom", sys_getrandom, S, "", "xdx"},
    {"prlimit64", sys_prlimit64, P, "reads fixed limits; setting is accepted and ignored", "ddxx"},
    {"getrlimit", sys_getrlimit, P, "fixed limits", "dx"},
    {"sched_yield", sys_sched_yield, S, "the other runnable threads run first", ""},
    {"sethostname", sys_sethostname, S, "", "sd"},
    {"sysinfo", sys_sysinfo, P, "memory figures are the guest's", "x"},
    {"nanosleep", sys_nanosleep, P, "the remaining time is not written on EINTR", "xx"},
    {"clock_nanosleep", sys_clock_nanosleep, P, "the remaining time is not written on EINTR",
     "ddxx"},
    {"alarm", sys_alarm, S, "", "d"},
    {"setuid", sys_set_identity, P,
     "identities are not modelled: the guest is root and changes succeed", "ddd"},
    {"setgid", sys_set_identity, P,
     "identities are not modelled: the guest is root and changes succeed", "ddd"},
    {"setreuid", sys_set_identity, P,
     "identities are not modelled: the guest is root and changes succeed", "ddd"},
    {"setregid", sys_set_identity, P,
     "identities are not modelled: the guest is root and changes succeed", "ddd"},
    {"setresuid", sys_set_identity, P,
     "identities are not modelled: the guest is root and changes succeed", "ddd"},
    {"setresgid", sys_set_identity, P,
     "identities are not modelled: the guest is root and changes succeed", "ddd"},
    {"setfsuid", sys_set_identity, P,
     "identities are not modelled: the guest is root and changes succeed", "ddd"},
    {"setfsgid", sys_set_identity, P,
     "identities are not modelled: the guest is root and changes succeed", "ddd"},
    {"setgroups", sys_set_identity, P,
     "identities are not modelled: the guest is root and changes succeed", "ddd"},
    {"getresuid", sys_getresuid, S, "the guest runs as root", "xxx"},
    {"getresgid", sys_getresuid, S, "the guest runs as root", "xxx"},
    {"getgroups", sys_getgroups, S, "no supplementary groups", "dx"},
    {"times", sys_times, P, "CPU times are zero", "x"},
    {"getrusage", sys_getrusage, P, "only ru_maxrss", "dx"},
    {"getpriority", sys_getpriority, P, "always nice 0", "dd"},
    {"setpriority", sys_set_identity, P, "accepted, no effect", "ddd"},
    {"sched_getparam", sys_sched_getparam, S, "", "dx"},
    {"sched_getscheduler", sys_sched_getscheduler, S, "", "d"},
    {"sched_setaffinity", sys_set_identity, P, "accepted, no effect", "ddx"},
    {"setitimer", sys_setitimer, P, "ITIMER_REAL only", "dxx"},
    {"getitimer", sys_getitimer, P, "ITIMER_REAL only", "dx"},
    {"getcpu", sys_getcpu, S, "", "xxx"},
    {"sched_getaffinity", sys_sched_getaffinity, P, "one CPU", "ddx"},

    {"rseq", nullptr, N, "not implemented; glibc falls back without it", "xddx"},
};

std::vector<SyscallInfo> build() {
  std::vector<SyscallInfo> table;
  for (auto [nr, name] : syscall_names()) {
    SyscallInfo info;
    info.nr = nr;
    info.name = name;
    for (const auto& e : kEntries) {
      if (std::string_view(e.name) == name) {
        info.handler = e.handler;
        info.support = e.support;
        info.note = e.note;
        info.args = e.args;
      }
    }
    table.push_back(info);
  }
  return table;
}

}  // namespace

const std::vector<SyscallInfo>& all_syscalls() {
  static const std::vector<SyscallInfo> table = build();
  return table;
}

std::vector<std::string> unmatched_table_names() {
  std::vector<std::string> out;
  for (const auto& e : kEntries) {
    bool found = false;
    for (auto [nr, name] : syscall_names()) found |= std::string_view(e.name) == name;
    if (!found) out.push_back(e.name);
  }
  return out;
}

const SyscallInfo* find_syscall(uint64_t nr) {
  const auto& t = all_syscalls();
  auto it = std::lower_bound(t.begin(), t.end(), nr,
                             [](const SyscallInfo& s, uint64_t n) { return uint64_t(s.nr) < n; });
  if (it == t.end() || uint64_t(it->nr) != nr) return nullptr;
  return &*it;
}

std::string syscall_table_markdown() {
  int counts[3] = {};
  for (const auto& s : all_syscalls()) ++counts[static_cast<int>(s.support)];
  std::string out =
      "# Guest syscalls (x86-64)\n\n"
      "Generated from `kernel/syscalls/table.cc` by `pangaea boot --syscall-table`;"
      " do not edit.\n\n";
  out += fmt::format("{} supported, {} partial, {} not implemented (ENOSYS, logged once).\n\n",
                     counts[0], counts[1], counts[2]);
  out += "| nr | name | status | notes |\n|---:|---|---|---|\n";
  for (const auto& s : all_syscalls()) {
    const char* st = s.support == Support::kSupported ? "supported"
                     : s.support == Support::kPartial ? "partial"
                                                      : "ENOSYS";
    out += fmt::format("| {} | {} | {} | {} |\n", s.nr, s.name, st, s.note);
  }
  return out;
}

}  // namespace kernel::syscalls
