#pragma once
// The kernel <-> DSM boundary: guest physical memory as 4 KiB frames.
//
// Frames live in a memfd on this node; the kernel maps ranges of it
// (MAP_SHARED) into guest address spaces and into itself. Whether a frame's
// contents are valid on this node is the DSM's business: a mapping the kernel
// hands over with attach() is registered with userfaultfd, and a missing or
// write-protected frame is brought in by the DSM (possibly from another node)
// before the faulting thread goes on.
//
// Request life cycle (after Zircon's page source): a fault or make_present()
// creates a request for a frame; concurrent requests for one frame coalesce;
// the provider (local zero fill, or the coherence protocol over the network)
// supplies the page; the store installs it into the memfd (UFFDIO_COPY) and
// wakes the waiters. Invalidation punches the page out of the memfd, so the
// next touch faults again; downgrade write-protects every attached mapping.
//
// Threads: every method may be called from any thread.

#include <cstddef>
#include <cstdint>

#include "base/result.h"

namespace dsm {

enum class Access : uint8_t { kRead, kWrite };

class FrameStore {
 public:
  virtual ~FrameStore() = default;

  // The memfd holding this node's copy of the frames. Frame f is at offset f*4096.
  virtual int memfd() const = 0;
  virtual uint64_t frame_count() const = 0;

  // Blocks until frames [first, first+count) are present on this node with at
  // least `access`. The kernel calls it before touching guest memory through
  // its own mapping (the user-copy API).
  virtual base::Status make_present(uint64_t first, uint64_t count, Access access) = 0;

  // Hands over a userfaultfd (ownership stays with the caller) whose mm maps
  // frames [first, first+count) at `addr`; the store registers the range
  // (MISSING | WP) and from then on resolves faults there.
  virtual base::Status attach(int uffd, uint64_t addr, uint64_t first, uint64_t count) = 0;
  // Undoes attach() for every page of `uffd` in [addr, addr + count * 4096)
  // (count in pages, like attach's): attachments partly inside are cut to
  // what lies outside. Call it before the mapping changes (unmap, remap).
  virtual void detach(int uffd, uint64_t addr, uint64_t count) = 0;
  // Forgets `uffd` altogether: every attachment made with it, and the fd
  // itself (the store stops reading it). Its owner calls this before closing
  // the fd, so that the store never touches a closed fd, nor a later
  // userfaultfd that happens to get the same number.
  virtual void detach_all(int uffd) = 0;

  // Resolves one fault the caller observed itself (UFFD_FEATURE_SIGBUS: the
  // tracer sees SIGBUS at `addr` in a mapping attached with `uffd`). Returns
  // once the frame is present with `access`; the caller then resumes the thread.
  virtual base::Status resolve_fault(int uffd, uint64_t addr, Access access) = 0;

  // A mapping of every frame (frame f at mapping() + f*4096) whose faults the
  // store resolves itself: touching a frame not present here brings it in,
  // writing one not held writable upgrades it, from any thread and from
  // host syscalls alike. The kernel's user copies go through it, so a frame
  // evicted or invalidated between make_present() and the copy is simply
  // fetched again. nullptr: the store has none, and every frame stays
  // present once made present (the caller maps memfd() itself).
  virtual std::byte* mapping() const { return nullptr; }

  // Whether the host may map frames [first, first+count) into an address
  // space ahead of the guest's touches (MAP_POPULATE) without going around
  // the DSM: only where those frames are held on this node with write access
  // and no fault handling would see the touches. The default says no, so a
  // store that does not answer is never prefaulted.
  virtual bool host_prefault_ok(uint64_t /*first*/, uint64_t /*count*/) const { return false; }
};

}  // namespace dsm
