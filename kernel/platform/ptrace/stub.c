// The stub: the host process that is one guest address space.
//
// Built with -nostdlib -static at a fixed high address (see CMakeLists.txt) so
// that it never overlaps guest memory, which lives below kGuestTop. It does
// three things and then only loops:
//   1. sets no_new_privs and installs a seccomp filter under which no syscall
//      of this process reaches the host unless the tracer lets it (see below);
//   2. stops with int3 so the tracer can learn the site's address (the
//      instruction pointer after the int3 IS the site) and, in rax, the fd of
//      the filter's notification listener (or -1);
//   3. loops "int3; syscall; jmp": the tracer injects a host syscall by
//      setting the registers, pointing rip at the site and continuing; the
//      syscall runs and the following int3 hands control back.
// The filter (written by hand: see STUB.md) returns SECCOMP_RET_TRACE for
// every syscall, so each one stops in the tracer, which skips it (a guest
// syscall, emulated by the kernel) or lets it run (its own injection at the
// site); with no tracer a TRACE syscall fails with ENOSYS and never runs. With
// argv[1] = "fast", the syscalls of fast_syscall_list.h made anywhere but at
// the site are instead SECCOMP_RET_USER_NOTIF: the kernel answers them with a
// value and the host never runs them either.

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/syscall.h>

#include "fast_syscall_list.h"

extern char pangaea_stub_loop[];
extern char pangaea_stub_site_end[];

__asm__(
    ".text\n"
    ".globl pangaea_stub_loop\n"
    "pangaea_stub_loop:\n"
    "  int3\n"
    ".globl pangaea_stub_site\n"
    "pangaea_stub_site:\n"
    "  syscall\n"
    ".globl pangaea_stub_site_end\n"
    "pangaea_stub_site_end:\n"
    "  jmp pangaea_stub_loop\n");

static long raw_syscall5(long nr, long a, long b, long c, long d, long e) {
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                   : "rcx", "r11", "memory");
  return ret;
}

static void die(int code) {
  for (;;) raw_syscall5(SYS_exit_group, code, 0, 0, 0, 0);
}

#define PR_SET_NO_NEW_PRIVS_ 38

#define SECCOMP_FILTER_FLAG_NEW_LISTENER_ (1UL << 3)
#define SECCOMP_RET_USER_NOTIF_ 0x7fc00000U

static int is_fast(int argc, char** argv) {
  return argc > 1 && argv[1][0] == 'f' && argv[1][1] == 'a' && argv[1][2] == 's' &&
         argv[1][3] == 't' && argv[1][4] == 0;
}

void stub_main(long* sp) {
  int argc = (int)sp[0];
  char** argv = (char**)(sp + 1);
  static const int fast[] = PANGAEA_FAST_SYSCALLS;
  enum { kFast = sizeof(fast) / sizeof(fast[0]) };
  // [0] arch; [1] not x86-64 -> TRACE; [2..6) instruction pointer at the
  // site (an injection, whatever its number) -> TRACE; [6] nr;
  // [7..7+kFast) nr == fast[i] -> NOTIF; then TRACE, NOTIF.
  struct sock_filter filter[7 + kFast + 2];
  unsigned n = 0;
  long flags = 0;
  if (is_fast(argc, argv)) {
    const unsigned trace = 7 + kFast, notif = trace + 1;
    unsigned long site = (unsigned long)pangaea_stub_site_end;
    filter[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                               offsetof(struct seccomp_data, arch));
    filter[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0,
                                             trace - n - 1);
    n++;
    filter[n++] = (struct sock_filter)BPF_STMT(
        BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, instruction_pointer));
    filter[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)site, 0, 2);
    filter[n++] = (struct sock_filter)BPF_STMT(
        BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, instruction_pointer) + 4);
    filter[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)(site >> 32),
                                             trace - n - 1, 0);
    n++;
    filter[n++] =
        (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    for (int i = 0; i < kFast; i++, n++)
      filter[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)fast[i],
                                               notif - n - 1, 0);
    flags = SECCOMP_FILTER_FLAG_NEW_LISTENER_;
  }
  filter[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE);
  filter[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF_);
  struct sock_fprog prog = {.len = (unsigned short)n, .filter = filter};
  if (raw_syscall5(SYS_prctl, PR_SET_NO_NEW_PRIVS_, 1, 0, 0, 0) != 0) die(120);
  long listener = raw_syscall5(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, (long)&prog, 0, 0);
  if (listener < 0) die(121);
  // From here on every syscall stops in the tracer (or is a notification).
  __asm__ volatile("jmp pangaea_stub_loop" : : "a"(flags ? listener : -1L));
  __builtin_unreachable();
}

__asm__(
    ".text\n"
    ".globl _start\n"
    "_start:\n"
    "  mov %rsp, %rdi\n"
    "  and $-16, %rsp\n"
    "  call stub_main\n"
    "  hlt\n");
