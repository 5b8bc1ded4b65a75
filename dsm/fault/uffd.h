#pragma once
// Thin, typed wrappers over the userfaultfd ioctls the fault engine uses.
//
// Each call is one ioctl and returns base::Status with the ioctl's name in the
// message. Constants newer than the installed 6.1 headers are defined here
// (the machines run 6.18). Nothing here keeps state; every function may be
// called from any thread.

#include <linux/userfaultfd.h>

#include <cstdint>

#include "base/result.h"
#include "base/unique_fd.h"

// Features added after the 6.1 uapi headers (values from the 6.18 uapi).
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1 << 14)
#endif
#ifndef _UFFDIO_POISON
#define _UFFDIO_POISON (0x08)
struct uffdio_poison {
  struct uffdio_range range;
#define UFFDIO_POISON_MODE_DONTWAKE ((__u64)1 << 0)
  __u64 mode;
  __s64 updated;
};
#define UFFDIO_POISON _IOWR(UFFDIO, _UFFDIO_POISON, struct uffdio_poison)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16)
#endif

namespace dsm::uffd {

// Features the engine needs on every userfaultfd it serves: missing faults on
// shmem (memfd), and write-protect faults on shmem, which (unlike anonymous
// memory) need UFFD_FEATURE_WP_HUGETLBFS_SHMEM besides PAGEFAULT_FLAG_WP.
inline constexpr uint64_t kShmemFeatures =
    UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_WP_HUGETLBFS_SHMEM;

// Asked for besides kShmemFeatures where the kernel has it (Linux 6.6+):
// UFFDIO_POISON, which makes a lost frame's faulting threads get SIGBUS
// (dsm/PROTOCOLS.md "Node failure").
inline constexpr uint64_t kOptionalFeatures = UFFD_FEATURE_POISON;

// userfaultfd(2) with O_CLOEXEC | O_NONBLOCK, then UFFDIO_API asking for
// `features` and, if the kernel has them, `optional`. Fails if the kernel
// lacks any of `features`.
base::StatusOr<base::UniqueFd> open(uint64_t features, uint64_t optional = 0);

// UFFDIO_API on an fd someone else created (e.g. inside a stub's mm). Returns
// false, not an error, when the handshake was already done (EINVAL/EPERM on a
// second UFFDIO_API): the creator chose the features then.
// `optional` features are asked for first and dropped if the kernel refuses them.
base::StatusOr<bool> handshake(int fd, uint64_t features, uint64_t optional = 0);

// UFFDIO_REGISTER with MISSING | WP over [addr, addr+len).
base::Status register_range(int fd, uint64_t addr, uint64_t len);
base::Status unregister_range(int fd, uint64_t addr, uint64_t len);

// UFFDIO_COPY of `len` bytes from `src` to `dst`. write_protect maps the page
// write-protected (UFFDIO_COPY_MODE_WP); wake=false adds MODE_DONTWAKE.
// EEXIST (already present) is returned as an error with code EEXIST. A copy of
// several pages stops at the first one present; `copied` (if set) gets the
// bytes copied before it (the kernel woke waiters on those already).
base::Status copy(int fd, uint64_t dst, const void* src, uint64_t len, bool write_protect,
                  bool wake = true, uint64_t* copied = nullptr);

// UFFDIO_WRITEPROTECT: protect (true) or unprotect (false) [addr, addr+len).
// Unprotecting wakes threads waiting on the range unless wake=false.
base::Status write_protect(int fd, uint64_t addr, uint64_t len, bool protect, bool wake = true);

// UFFDIO_WAKE over [addr, addr+len).
base::Status wake(int fd, uint64_t addr, uint64_t len);

// UFFDIO_POISON over [addr, addr+len) (a hole in every page of it): the
// faulting threads are woken and an access there gets SIGBUS from now on.
// EEXIST: a page is present. EINVAL/ENOTTY: the fd lacks UFFD_FEATURE_POISON
// or the kernel the ioctl (before 6.6).
base::Status poison(int fd, uint64_t addr, uint64_t len);

}  // namespace dsm::uffd
