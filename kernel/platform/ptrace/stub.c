// The stub: the host process that is one guest address space.
//
// Built with -nostdlib -static at a fixed high address (see CMakeLists.txt) so
// that it never overlaps guest memory, which lives below kGuestTop. It does
// three things and then only loops:
//   1. sets no_new_privs and installs a seccomp filter that allows a host
//      syscall only when it comes from the injection site below;
//   2. stops with int3 so the tracer can learn the site's address (the
//      instruction pointer after the int3 IS the site);
//   3. loops "int3; syscall; jmp": the tracer injects a host syscall by
//      setting the registers, pointing rip at the site and continuing; the
//      syscall runs and the following int3 hands control back.
// Why the filter: guest code runs under PTRACE_SYSEMU, which stops every
// guest syscall before seccomp would see it, so the filter is a second wall.
// It matters whenever the stub runs without SYSEMU (the injection path uses
// PTRACE_CONT) or if a tracer bug resumes guest code with PTRACE_CONT: a
// syscall from any other address than the site then kills the stub
// (SECCOMP_RET_KILL_PROCESS) instead of reaching the host.
// libseccomp cannot match seccomp_data.instruction_pointer, so the filter is
// written by hand here (see STUB.md).

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/syscall.h>

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

void stub_main(void) {
  unsigned long site = (unsigned long)pangaea_stub_site_end;
  unsigned lo = (unsigned)site;
  unsigned hi = (unsigned)(site >> 32);
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 5),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, instruction_pointer)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, lo, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, instruction_pointer) + 4),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, hi, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
  };
  struct sock_fprog prog = {.len = sizeof(filter) / sizeof(filter[0]), .filter = filter};
  if (raw_syscall5(SYS_prctl, PR_SET_NO_NEW_PRIVS_, 1, 0, 0, 0) != 0) die(120);
  if (raw_syscall5(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, (long)&prog, 0, 0) != 0) die(121);
  // From here on no syscall is possible except through the site.
  __asm__ volatile("jmp pangaea_stub_loop");
  __builtin_unreachable();
}

__asm__(
    ".text\n"
    ".globl _start\n"
    "_start:\n"
    "  and $-16, %rsp\n"
    "  call stub_main\n"
    "  hlt\n");
