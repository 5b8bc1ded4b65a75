// A hostile guest that throws random arguments at the implemented syscalls
// (guest only, in a root of its own). Each child makes a few hundred calls
// and may well kill itself (a wild munmap or arch_prctl); the guest kernel
// must survive all of it: the parent sees every child end and says "done".
// Calls that could block forever (pipes, stdin, sleeps, waits) are left out.
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static uint64_t state = 0x9e3779b97f4a7c15ull;
static uint64_t next(void) {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

static char buffer[8192];

static long pick_arg(void) {
  switch (next() % 10) {
    case 0: return 0;
    case 1: return -1;
    case 2: return (long)(next() % 64);
    case 3: return (long)buffer;
    case 4: return (long)(buffer + 4096);
    case 5: return (long)0xffffffff80000000ull;  // a kernel address
    case 6: return (long)next();
    case 7: return 4096;
    case 8: return (long)"/tmp/fuzz";
    default: return (long)(next() % 0x100000);
  }
}

static const long kCalls[] = {
    SYS_write, SYS_open, SYS_close, SYS_stat, SYS_fstat, SYS_lstat, SYS_lseek, SYS_mmap,
    SYS_mprotect, SYS_munmap, SYS_brk, SYS_ioctl, SYS_pwrite64, SYS_writev, SYS_access,
    SYS_dup, SYS_dup2, SYS_getpid, SYS_getcwd, SYS_chdir, SYS_rename, SYS_mkdir, SYS_rmdir,
    SYS_unlink, SYS_readlink, SYS_chmod, SYS_umask, SYS_gettimeofday, SYS_getrlimit,
    SYS_sysinfo, SYS_times, SYS_uname, SYS_fcntl, SYS_getdents64, SYS_rt_sigaction,
    SYS_rt_sigprocmask, SYS_sigaltstack, SYS_statx, SYS_mremap, SYS_madvise, SYS_prctl,
    SYS_arch_prctl, SYS_clock_gettime, SYS_getrandom, SYS_openat, SYS_newfstatat,
    SYS_symlink, SYS_link, SYS_truncate, SYS_ftruncate, SYS_utimensat, SYS_statfs,
    SYS_prlimit64, SYS_setitimer, SYS_getitimer, SYS_mlock, SYS_msync, SYS_sched_getaffinity,
    SYS_getrusage, SYS_set_tid_address, SYS_set_robust_list, SYS_umask, 1000, 100000, -5,
};

int main(void) {
  int children = 0, signalled = 0;
  for (int c = 0; c < 24; ++c) {
    uint64_t seed = next();
    pid_t pid = fork();
    if (pid == 0) {
      state = seed | 1;
      close(0);
      for (int i = 0; i < 300; ++i) {
        long nr = kCalls[next() % (sizeof(kCalls) / sizeof(kCalls[0]))];
        syscall(nr, pick_arg(), pick_arg(), pick_arg(), pick_arg(), pick_arg(), pick_arg());
      }
      _exit(0);
    }
    int status;
    if (pid > 0 && waitpid(pid, &status, 0) == pid) {
      ++children;
      if (WIFSIGNALED(status)) ++signalled;
    }
  }
  printf("%s children=%d\n", children == 24 ? "ok" : "FAIL", children);
  printf("done\n");
  return 0;
}
