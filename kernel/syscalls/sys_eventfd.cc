// eventfd, eventfd2 (kernel/fs/eventfd.h). Reads and writes go through the
// ordinary read/write handlers, which wait on the file's queues.

#include <sys/eventfd.h>

#include "kernel/fs/eventfd.h"
#include "kernel/syscalls/handlers.h"
#include "kernel/syscalls/util.h"

namespace kernel::syscalls {
namespace {

Result<uint64_t> create(task::Process& p, uint64_t initval, int flags) {
  if (flags & ~(EFD_SEMAPHORE | EFD_CLOEXEC | EFD_NONBLOCK)) return Errno(EINVAL);
  auto f =
      fs::make_eventfd(static_cast<uint32_t>(initval), flags & EFD_NONBLOCK, flags & EFD_SEMAPHORE);
  return static_cast<uint64_t>(TRY(p.fds.install(std::move(f), flags & EFD_CLOEXEC)));
}

}  // namespace

PANGAEA_SYSCALL(eventfd) {
  (void)k;
  return create(p, a.a[0], 0);
}

PANGAEA_SYSCALL(eventfd2) {
  (void)k;
  return create(p, a.a[0], arg_int(a.a[1]));
}

}  // namespace kernel::syscalls
