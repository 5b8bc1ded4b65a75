#pragma once
// Pipes: an in-kernel 64 KiB buffer with a read end and a write end. A read
// of an empty pipe with writers left, or a write to a full one, is EAGAIN
// from the File; the syscall layer blocks the process on the end's wait
// queue unless O_NONBLOCK. Writes may be short (whatever fits); a write with
// no reader left is EPIPE (the syscall layer raises SIGPIPE).
//
// Threads: the kernel thread only.

#include <memory>
#include <utility>

#include "kernel/fs/file.h"

namespace kernel::fs {

inline constexpr size_t kPipeSize = 64 * 1024;

// {read end, write end}, with `flags` (O_NONBLOCK) on both.
std::pair<std::shared_ptr<File>, std::shared_ptr<File>> make_pipe(int flags);

}  // namespace kernel::fs
