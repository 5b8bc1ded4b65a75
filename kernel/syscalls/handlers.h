#pragma once
// Handler declarations, one group per file (sys_file.cc, sys_mm.cc,
// sys_process.cc, sys_info.cc); table.cc binds them to numbers.

#include "kernel/syscalls/table.h"
#include "kernel/task/kernel.h"

namespace kernel::syscalls {

// `p` is the calling process, `t` the calling thread (one of p's).
#define PANGAEA_SYSCALL(name)                                                                      \
  Result<uint64_t> sys_##name(task::Kernel& k, task::Process& p, [[maybe_unused]] task::Thread& t, \
                              const SyscallArgs& a)

// sys_file.cc
PANGAEA_SYSCALL(read);
PANGAEA_SYSCALL(write);
PANGAEA_SYSCALL(readv);
PANGAEA_SYSCALL(writev);
PANGAEA_SYSCALL(pread64);
PANGAEA_SYSCALL(pwrite64);
PANGAEA_SYSCALL(open);
PANGAEA_SYSCALL(openat);
PANGAEA_SYSCALL(close);
PANGAEA_SYSCALL(fstat);
PANGAEA_SYSCALL(stat);
PANGAEA_SYSCALL(lstat);
PANGAEA_SYSCALL(newfstatat);
PANGAEA_SYSCALL(lseek);
PANGAEA_SYSCALL(ioctl);
PANGAEA_SYSCALL(getcwd);
PANGAEA_SYSCALL(chdir);
PANGAEA_SYSCALL(fchdir);
PANGAEA_SYSCALL(getdents64);
PANGAEA_SYSCALL(readlink);
PANGAEA_SYSCALL(readlinkat);
PANGAEA_SYSCALL(access);
PANGAEA_SYSCALL(faccessat);
PANGAEA_SYSCALL(faccessat2);
PANGAEA_SYSCALL(dup);
PANGAEA_SYSCALL(dup2);
PANGAEA_SYSCALL(dup3);
PANGAEA_SYSCALL(fcntl);
PANGAEA_SYSCALL(mkdir);
PANGAEA_SYSCALL(mkdirat);
PANGAEA_SYSCALL(unlink);
PANGAEA_SYSCALL(unlinkat);
PANGAEA_SYSCALL(rmdir);
PANGAEA_SYSCALL(umask);
PANGAEA_SYSCALL(pipe);
PANGAEA_SYSCALL(pipe2);

// sys_fs_ops.cc
PANGAEA_SYSCALL(rename);
PANGAEA_SYSCALL(renameat);
PANGAEA_SYSCALL(renameat2);
PANGAEA_SYSCALL(link);
PANGAEA_SYSCALL(linkat);
PANGAEA_SYSCALL(symlink);
PANGAEA_SYSCALL(symlinkat);
PANGAEA_SYSCALL(chmod);
PANGAEA_SYSCALL(fchmodat);
PANGAEA_SYSCALL(fchmod);
PANGAEA_SYSCALL(chown);
PANGAEA_SYSCALL(lchown);
PANGAEA_SYSCALL(fchownat);
PANGAEA_SYSCALL(fchown);
PANGAEA_SYSCALL(truncate);
PANGAEA_SYSCALL(ftruncate);
PANGAEA_SYSCALL(fsync);
PANGAEA_SYSCALL(sync);
PANGAEA_SYSCALL(utimensat);
PANGAEA_SYSCALL(statx);
PANGAEA_SYSCALL(statfs);
PANGAEA_SYSCALL(fstatfs);
PANGAEA_SYSCALL(fadvise64);
PANGAEA_SYSCALL(flock);
PANGAEA_SYSCALL(sendfile);
PANGAEA_SYSCALL(creat);
PANGAEA_SYSCALL(getxattr);
PANGAEA_SYSCALL(listxattr);
PANGAEA_SYSCALL(setxattr);

// sys_poll.cc
PANGAEA_SYSCALL(poll);
PANGAEA_SYSCALL(ppoll);
PANGAEA_SYSCALL(select);
PANGAEA_SYSCALL(pselect6);

// sys_epoll.cc
PANGAEA_SYSCALL(epoll_create);
PANGAEA_SYSCALL(epoll_create1);
PANGAEA_SYSCALL(epoll_ctl);
PANGAEA_SYSCALL(epoll_wait);
PANGAEA_SYSCALL(epoll_pwait);
PANGAEA_SYSCALL(epoll_pwait2);

// sys_eventfd.cc
PANGAEA_SYSCALL(eventfd);
PANGAEA_SYSCALL(eventfd2);

// sys_timerfd.cc
PANGAEA_SYSCALL(timerfd_create);
PANGAEA_SYSCALL(timerfd_settime);
PANGAEA_SYSCALL(timerfd_gettime);

// sys_socket.cc
PANGAEA_SYSCALL(socket);
PANGAEA_SYSCALL(connect);
PANGAEA_SYSCALL(bind);
PANGAEA_SYSCALL(listen);
PANGAEA_SYSCALL(accept);
PANGAEA_SYSCALL(accept4);
PANGAEA_SYSCALL(getsockname);
PANGAEA_SYSCALL(getpeername);
PANGAEA_SYSCALL(sendto);
PANGAEA_SYSCALL(recvfrom);
PANGAEA_SYSCALL(setsockopt);
PANGAEA_SYSCALL(getsockopt);
PANGAEA_SYSCALL(shutdown);
PANGAEA_SYSCALL(sendmsg);
PANGAEA_SYSCALL(recvmsg);
// sys_unix_socket.cc
PANGAEA_SYSCALL(socketpair);

// sys_mm.cc
PANGAEA_SYSCALL(mmap);
PANGAEA_SYSCALL(munmap);
PANGAEA_SYSCALL(mprotect);
PANGAEA_SYSCALL(brk);
PANGAEA_SYSCALL(madvise);
PANGAEA_SYSCALL(mremap);
PANGAEA_SYSCALL(mlock);
PANGAEA_SYSCALL(msync);

// sys_process.cc
PANGAEA_SYSCALL(exit);
PANGAEA_SYSCALL(exit_group);
PANGAEA_SYSCALL(getpid);
PANGAEA_SYSCALL(gettid);
PANGAEA_SYSCALL(getppid);
PANGAEA_SYSCALL(getpgrp);
PANGAEA_SYSCALL(getpgid);
PANGAEA_SYSCALL(setpgid);
PANGAEA_SYSCALL(getsid);
PANGAEA_SYSCALL(setsid);
PANGAEA_SYSCALL(getuid);
PANGAEA_SYSCALL(arch_prctl);
PANGAEA_SYSCALL(set_tid_address);
PANGAEA_SYSCALL(set_robust_list);
PANGAEA_SYSCALL(rt_sigaction);
PANGAEA_SYSCALL(rt_sigprocmask);
PANGAEA_SYSCALL(clone);
PANGAEA_SYSCALL(get_robust_list);
PANGAEA_SYSCALL(clone3);
PANGAEA_SYSCALL(fork);
PANGAEA_SYSCALL(vfork);
PANGAEA_SYSCALL(execve);
PANGAEA_SYSCALL(wait4);
PANGAEA_SYSCALL(waitid);
PANGAEA_SYSCALL(futex);
PANGAEA_SYSCALL(kill);
PANGAEA_SYSCALL(reboot);
PANGAEA_SYSCALL(tgkill);
PANGAEA_SYSCALL(tkill);
PANGAEA_SYSCALL(rt_sigreturn);
PANGAEA_SYSCALL(sigaltstack);
PANGAEA_SYSCALL(rt_sigsuspend);
PANGAEA_SYSCALL(pause);
PANGAEA_SYSCALL(rt_sigpending);
PANGAEA_SYSCALL(rt_sigtimedwait);
PANGAEA_SYSCALL(prctl);

// sys_info.cc
PANGAEA_SYSCALL(uname);
PANGAEA_SYSCALL(clock_gettime);
PANGAEA_SYSCALL(gettimeofday);
PANGAEA_SYSCALL(time);
PANGAEA_SYSCALL(getrandom);
PANGAEA_SYSCALL(prlimit64);
PANGAEA_SYSCALL(getrlimit);
PANGAEA_SYSCALL(sched_yield);
PANGAEA_SYSCALL(sethostname);
PANGAEA_SYSCALL(sysinfo);
PANGAEA_SYSCALL(nanosleep);
PANGAEA_SYSCALL(clock_nanosleep);
PANGAEA_SYSCALL(getcpu);
PANGAEA_SYSCALL(sched_getaffinity);
PANGAEA_SYSCALL(alarm);
PANGAEA_SYSCALL(set_identity);
PANGAEA_SYSCALL(getresuid);
PANGAEA_SYSCALL(getgroups);
PANGAEA_SYSCALL(times);
PANGAEA_SYSCALL(getrusage);
PANGAEA_SYSCALL(getpriority);
PANGAEA_SYSCALL(sched_getparam);
PANGAEA_SYSCALL(sched_getscheduler);
PANGAEA_SYSCALL(setitimer);
PANGAEA_SYSCALL(getitimer);

}  // namespace kernel::syscalls
