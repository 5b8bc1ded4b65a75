#pragma once
// Eventfd: a kernel-side 64-bit counter File (eventfd(2)). write adds its
// 8-byte value (EAGAIN while the sum would pass 2^64-2: the writer waits);
// read takes the whole count, or 1 with EFD_SEMAPHORE (EAGAIN at 0: the
// reader waits). Readable while the count is not 0, writable while one more
// can be added. Readers and writers wait on its two wait queues, which epoll
// and poll watch as for pipes.
//
// Threads: the kernel thread only.

#include <memory>

#include "kernel/fs/file.h"

namespace kernel::fs {

// `flags`: O_NONBLOCK; `semaphore`: EFD_SEMAPHORE.
std::shared_ptr<File> make_eventfd(uint64_t initval, int flags, bool semaphore);

}  // namespace kernel::fs
