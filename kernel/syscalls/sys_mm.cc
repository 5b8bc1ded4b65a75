// Memory syscalls: mmap, munmap, mprotect, mremap, msync, brk, madvise.

#include <sys/mman.h>
#include <sys/stat.h>

#include "kernel/fs/file.h"
#include "kernel/syscalls/handlers.h"
#include "kernel/syscalls/util.h"

namespace kernel::syscalls {

PANGAEA_SYSCALL(mmap) {
  (void)k;
  uint64_t addr = a.a[0], len = a.a[1];
  int prot = arg_int(a.a[2]), flags = arg_int(a.a[3]), fd = arg_int(a.a[4]);
  uint64_t off = a.a[5];
  if (prot &
      ~(PROT_READ | PROT_WRITE | PROT_EXEC | 0x8 /* PROT_SEM */ | PROT_GROWSDOWN | PROT_GROWSUP))
    return Errno(EINVAL);
  std::shared_ptr<base::UniqueFd> file;
  if (!(flags & MAP_ANONYMOUS)) {
    auto f = TRY(p.fds.get(fd));
    if ((f->flags() & O_ACCMODE) == O_WRONLY) return Errno(EACCES);
    // A writable shared mapping writes to the file: it needs an fd open for
    // writing, as Linux's.
    if ((flags & MAP_TYPE) != MAP_PRIVATE && (prot & PROT_WRITE) &&
        (f->flags() & O_ACCMODE) != O_RDWR)
      return Errno(EACCES);
    if (f->path() == "/dev/zero") {
      flags |= MAP_ANONYMOUS;  // mapping /dev/zero is anonymous memory
    } else {
      if (f->host_fd() < 0) return Errno(ENODEV);
      struct stat st = TRY(f->stat());
      if (!S_ISREG(st.st_mode)) return Errno(ENODEV);
      int dupfd = ::fcntl(f->host_fd(), F_DUPFD_CLOEXEC, 3);
      if (dupfd < 0) return Errno::last();
      file = std::make_shared<base::UniqueFd>(dupfd);
    }
  }
  return p.mm->mmap(addr, len, prot, flags, std::move(file), (flags & MAP_ANONYMOUS) ? 0 : off);
}

PANGAEA_SYSCALL(munmap) {
  (void)k;
  TRY(p.mm->munmap(a.a[0], a.a[1]));
  return 0;
}

PANGAEA_SYSCALL(mprotect) {
  (void)k;
  TRY(p.mm->mprotect(a.a[0], a.a[1], arg_int(a.a[2])));
  return 0;
}

PANGAEA_SYSCALL(mremap) {
  (void)k;
  return p.mm->mremap(a.a[0], a.a[1], a.a[2], arg_int(a.a[3]), a.a[4]);
}

PANGAEA_SYSCALL(mlock) {
  (void)k, (void)p, (void)a;
  return 0;  // frames are never swapped by this kernel
}

PANGAEA_SYSCALL(msync) {
  (void)k;
  constexpr int kKnown = MS_ASYNC | MS_SYNC | MS_INVALIDATE;
  int flags = arg_int(a.a[2]);
  if ((flags & ~kKnown) || ((flags & MS_ASYNC) && (flags & MS_SYNC))) return Errno(EINVAL);
  // MS_ASYNC writes back at once too: there is no later flusher.
  TRY(p.mm->msync(a.a[0], a.a[1]));
  return 0;
}

PANGAEA_SYSCALL(brk) {
  (void)k;
  return p.mm->brk(a.a[0]);
}

PANGAEA_SYSCALL(madvise) {
  (void)k;
  if (a.a[0] % 4096) return Errno(EINVAL);
  int advice = arg_int(a.a[2]);
  if (advice == MADV_DONTNEED) {
    // Private anonymous memory reads back as zeros after DONTNEED: drop the
    // pages by remapping the range with the same protection.
    for (auto& [start, v] : p.mm->vmas()) {
      if (v.start <= a.a[0] && a.a[0] + a.a[1] <= v.end && !v.file && !v.shared) {
        int prot = v.prot;
        TRY(p.mm->mmap(a.a[0], a.a[1], prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, nullptr, 0));
        return 0;
      }
    }
  }
  return 0;
}

}  // namespace kernel::syscalls
