#include "kernel/task/signals.h"

#include <cstring>

namespace kernel::task {
namespace {

constexpr uint64_t kRedZone = 128;
constexpr uint64_t kSaRestorer = 0x04000000;  // SA_RESTORER (not in libc headers)
constexpr uint64_t kUcFlags = 0x2 | 0x4;      // UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS

bool on_altstack(const Thread& p, uint64_t sp) {
  return p.altstack.ss_size && sp > p.altstack.ss_sp && sp <= p.altstack.ss_sp + p.altstack.ss_size;
}

}  // namespace

DefaultAction default_action(int sig) {
  switch (sig) {
    case SIGCHLD:
    case SIGURG:
    case SIGWINCH:
      return DefaultAction::kIgnore;
    case SIGCONT:
      return DefaultAction::kContinue;
    case SIGSTOP:
    case SIGTSTP:
    case SIGTTIN:
    case SIGTTOU:
      return DefaultAction::kStop;
    case SIGQUIT:
    case SIGILL:
    case SIGTRAP:
    case SIGABRT:
    case SIGBUS:
    case SIGFPE:
    case SIGSEGV:
    case SIGXCPU:
    case SIGXFSZ:
    case SIGSYS:
      return DefaultAction::kCore;
    default:
      return DefaultAction::kTerminate;
  }
}

base::Result<void> setup_frame(Thread& p, int sig, const siginfo_t& info) {
  Process& proc = *p.process;
  GuestSigaction& act = proc.sigactions[sig];
  if (!(act.flags & kSaRestorer) || !act.restorer) return base::Errno(EFAULT);
  platform::Registers& r = p.regs;
  uint64_t sp = r.rsp - kRedZone;
  if ((act.flags & SA_ONSTACK) && p.altstack.ss_size && !(p.altstack.ss_flags & SS_DISABLE) &&
      !on_altstack(p, r.rsp))
    sp = p.altstack.ss_sp + p.altstack.ss_size;

  // The FP state, 64-byte aligned, below the frame.
  platform::FpRegisters fp;
  bool have_fp = p.context->get_fpregs(fp).ok();
  uint64_t fpstate = 0;
  if (have_fp) {
    sp = (sp - sizeof(fp)) & ~uint64_t{63};
    fpstate = sp;
    TRY(proc.mm->copy_out(fpstate, &fp, sizeof(fp)));
  }
  // As after a call: (frame + 8) is 16-byte aligned at handler entry.
  uint64_t frame_addr = ((sp - sizeof(KRtSigframe)) & ~uint64_t{15}) - 8;

  KRtSigframe f = {};
  f.pretcode = act.restorer;
  f.uc.uc_flags = kUcFlags;
  f.uc.uc_stack.ss_sp = p.altstack.ss_sp;
  f.uc.uc_stack.ss_size = p.altstack.ss_size;
  f.uc.uc_stack.ss_flags =
      on_altstack(p, r.rsp) ? SS_ONSTACK : (p.altstack.ss_size ? 0 : SS_DISABLE);
  KSigcontext& c = f.uc.uc_mcontext;
  c.r8 = r.r8, c.r9 = r.r9, c.r10 = r.r10, c.r11 = r.r11;
  c.r12 = r.r12, c.r13 = r.r13, c.r14 = r.r14, c.r15 = r.r15;
  c.rdi = r.rdi, c.rsi = r.rsi, c.rbp = r.rbp, c.rbx = r.rbx;
  c.rdx = r.rdx, c.rax = r.rax, c.rcx = r.rcx, c.rsp = r.rsp;
  c.rip = r.rip, c.eflags = r.eflags;
  c.cs = static_cast<uint16_t>(r.cs);
  c.ss = static_cast<uint16_t>(r.ss);
  c.fpstate = fpstate;
  c.oldmask = p.sigmask;
  if (sig == SIGSEGV || sig == SIGBUS) c.cr2 = reinterpret_cast<uint64_t>(info.si_addr);
  // The mask to restore: the one saved by sigsuspend if any.
  f.uc.uc_sigmask = p.has_saved_sigmask ? p.saved_sigmask : p.sigmask;
  p.has_saved_sigmask = false;
  f.info = info;
  TRY(proc.mm->copy_out(frame_addr, &f, sizeof(f)));

  r.rip = act.handler;
  r.rsp = frame_addr;
  r.rdi = static_cast<uint64_t>(sig);
  r.rsi = frame_addr + offsetof(KRtSigframe, info);
  r.rdx = frame_addr + offsetof(KRtSigframe, uc);
  r.rax = 0;
  r.eflags &= ~uint64_t{0x400 | 0x100};  // DF and TF clear, as the ABI wants
  p.sigmask |= act.mask;
  if (!(act.flags & SA_NODEFER)) p.sigmask |= sigbit(sig);
  p.sigmask &= ~(sigbit(SIGKILL) | sigbit(SIGSTOP));
  if (act.flags & SA_RESETHAND) act = GuestSigaction{};
  return {};
}

base::Result<void> restore_frame(Thread& p) {
  Process& proc = *p.process;
  // The handler's `ret` popped pretcode: the frame starts 8 bytes below.
  uint64_t frame_addr = p.regs.rsp - 8;
  KRtSigframe f;
  TRY(proc.mm->copy_in(frame_addr, &f, sizeof(f)));
  const KSigcontext& c = f.uc.uc_mcontext;
  platform::Registers& r = p.regs;
  r.r8 = c.r8, r.r9 = c.r9, r.r10 = c.r10, r.r11 = c.r11;
  r.r12 = c.r12, r.r13 = c.r13, r.r14 = c.r14, r.r15 = c.r15;
  r.rdi = c.rdi, r.rsi = c.rsi, r.rbp = c.rbp, r.rbx = c.rbx;
  r.rdx = c.rdx, r.rax = c.rax, r.rcx = c.rcx, r.rsp = c.rsp;
  r.rip = c.rip;
  // Only the flags a user may change (AC, OF, DF, TF, SF, ZF, AF, PF, CF, RF).
  constexpr uint64_t kUserFlags =
      0x40000 | 0x800 | 0x400 | 0x100 | 0x80 | 0x40 | 0x10 | 0x4 | 0x1 | 0x10000;
  r.eflags = (r.eflags & ~kUserFlags) | (c.eflags & kUserFlags);
  r.cs = 0x33;
  r.ss = 0x2b;
  p.sigmask = f.uc.uc_sigmask & ~(sigbit(SIGKILL) | sigbit(SIGSTOP));
  if (c.fpstate) {
    platform::FpRegisters fp;
    TRY(proc.mm->copy_in(c.fpstate, &fp, sizeof(fp)));
    // A guest-chosen MXCSR with reserved bits set would make the host refuse
    // the whole state; keep only the defined bits.
    fp.mxcsr &= 0xffff;
    (void)p.context->set_fpregs(fp);
  }
  return {};
}

}  // namespace kernel::task
