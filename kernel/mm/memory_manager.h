#pragma once
// MemoryManager: one guest address space's memory — its VMAs and its page
// table (guest page -> frame) — mirrored lazily into a platform AddressSpace.
//
// Pages get frames on first touch: by the guest (a fault, handle_fault) or by
// the kernel (copy_in/copy_out). The host mapping of a page is made only when
// the guest faults on it, for a window of pages around it (fault-around);
// munmap/mprotect drop host mappings so the next touch maps again with the
// new protection. Private file mappings are filled by copying file data into
// the frame; MAP_SHARED mappings (file or anonymous) take their frames from a
// SharedObject (shared_object.h) shared by every mapping of the same memory.
//
// fork() is copy-on-write: private pages keep their frame in both address
// spaces, marked `cow` and mapped read-only in the host; the first write (a
// guest fault, or the kernel's copy_out) copies the frame if another page
// table still uses it, or just makes it writable if not. Invariant: a page
// is host-mapped writable only if its VMA is writable and it is not cow.
//
// The kernel touches guest memory only through copy_in/copy_out (and
// host_iovecs for zero-copy I/O), via `frames`, after FrameStore::make_present.
// With a distributed store `frames` is the store's own mapping
// (FrameStore::mapping()), whose faults the store resolves: a frame evicted
// or invalidated after make_present() is fetched again when the copy (or a
// host syscall on host_iovecs' pointers) touches it, so make_present() is a
// prefetch there, not a pin.
//
// Each address space's userfaultfd (SIGBUS mode) is attached to the store
// run by run as pages are host-mapped, detached by page range whenever the
// host mapping goes (munmap, mprotect, mremap, a cow break), and forgotten
// with detach_all() before it closes (the destructor: exit, exec).
//
// Threads: the kernel thread only. Lock order: the kernel thread holds no
// DSM lock while it touches `frames` (make_present() has returned); a fault
// there blocks it in the host kernel until a fault-engine handler thread
// resolves it (engine locks, then the provider, whose answers come on the
// transport's thread). None of those ever waits for the kernel thread, so
// the kernel may fault on `frames` anywhere, even inside a host syscall.

#include <sys/uio.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "dsm/frame_store.h"
#include "kernel/mm/frame_allocator.h"
#include "kernel/mm/shared_object.h"
#include "kernel/mm/user_ptr.h"
#include "kernel/platform/platform.h"

namespace kernel::mm {

using base::Errno;
using base::Result;

struct Vma {
  uint64_t start = 0;
  uint64_t end = 0;  // exclusive
  int prot = 0;
  bool shared = false;
  std::shared_ptr<base::UniqueFd> file;  // null: anonymous
  uint64_t file_offset = 0;              // of `start`
  uint64_t file_size = 0;                // bytes of file data available at file_offset
  // MAP_SHARED: where the pages live, and the object page of `start`.
  std::shared_ptr<SharedObject> object;
  uint64_t object_pgoff = 0;
  // Was ever writable (a shared file mapping then needs write-back).
  bool ever_writable = false;
};

// Where new mappings go when the guest does not ask for an address.
inline constexpr uint64_t kStackTop = platform::kGuestTop - 0x1000;
inline constexpr uint64_t kStackSize = 8ull << 20;
inline constexpr uint64_t kMmapTop = kStackTop - kStackSize - (1ull << 30);

class MemoryManager {
 public:
  // `frames` is the kernel's mapping of store.memfd(); `as` the host address
  // space to mirror into (may be null in unit tests: nothing is mapped).
  MemoryManager(dsm::FrameStore& store, FrameAllocator& alloc, uint8_t* frames,
                platform::AddressSpace* as)
      : store_(store), alloc_(alloc), frames_(frames), as_(as) {}
  ~MemoryManager();
  MemoryManager(const MemoryManager&) = delete;
  MemoryManager& operator=(const MemoryManager&) = delete;

  // A copy for fork(): private pages become copy-on-write in both (this
  // address space's host mappings of them turn read-only), shared pages
  // stay shared. The copy mirrors into `as`.
  Result<std::unique_ptr<MemoryManager>> fork(platform::AddressSpace* as);
  // The shared-mapping object of host file (dev, ino) if some guest maps it
  // shared now (read(2)/write(2) keep it coherent), else null.
  std::shared_ptr<SharedObject> shared_file(uint64_t dev, uint64_t ino);

  // mmap(2) semantics on flags MAP_PRIVATE/SHARED/FIXED/FIXED_NOREPLACE/ANONYMOUS.
  // `file` is a host fd (shared) for file mappings.
  Result<uint64_t> mmap(uint64_t addr, uint64_t len, int prot, int flags,
                        std::shared_ptr<base::UniqueFd> file, uint64_t offset);
  Result<void> munmap(uint64_t addr, uint64_t len);
  Result<void> mprotect(uint64_t addr, uint64_t len, int prot);
  // msync(2): writes shared file pages of the range back to their files.
  Result<void> msync(uint64_t addr, uint64_t len);
  // mremap(2): shrink, grow in place, or move (MREMAP_MAYMOVE/FIXED); moved
  // pages keep their frames (no copy).
  Result<uint64_t> mremap(uint64_t old_addr, uint64_t old_len, uint64_t new_len, int flags,
                          uint64_t new_addr);
  Result<uint64_t> brk(uint64_t new_brk);
  void set_brk_base(uint64_t base) { brk_start_ = brk_end_ = base; }

  // The guest faulted at `addr`. OK: mapped, resume; EFAULT: a real fault
  // (SIGSEGV for the guest). `missing_frame`: the host said SIGBUS, which on
  // a mapped page means the DSM has not brought the frame here yet.
  Result<void> handle_fault(uint64_t addr, bool missing_frame = false);

  // User copies. `force` writes through read-only mappings (the loader).
  Result<void> copy_in(uint64_t addr, void* dst, size_t len);
  Result<void> copy_out(uint64_t addr, const void* src, size_t len, bool force = false);
  // A NUL-terminated string of at most `max` bytes (ENAMETOOLONG beyond).
  Result<std::string> copy_in_string(uint64_t addr, size_t max);
  // Host iovecs covering guest [addr, addr+len) for the kernel's own I/O
  // (readv into guest memory, writev from it). `write`: the kernel will write.
  Result<std::vector<iovec>> host_iovecs(uint64_t addr, size_t len, bool write);

  template <class T>
  Result<T> copy_in(UserPtr<T> p) {
    static_assert(std::is_trivially_copyable_v<T>);
    T v;
    TRY(copy_in(p.addr(), &v, sizeof(T)));
    return v;
  }
  template <class T>
  Result<void> copy_out(UserPtr<T> p, const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    return copy_out(p.addr(), &v, sizeof(T));
  }

  const std::map<uint64_t, Vma>& vmas() const { return vmas_; }
  uint64_t resident_pages() const { return pages_.size(); }
  // The frame backing guest page `vaddr`, if any (futex keys, tests). A
  // copy-on-write page gets a frame of its own first: a frame shared since
  // fork must not make two processes' private futexes one.
  Result<uint64_t> frame_of(uint64_t vaddr);
  // The same without breaking copy-on-write (tests).
  Result<uint64_t> peek_frame(uint64_t vaddr) const;

 private:
  struct Pte {
    uint64_t frame;
    bool host_mapped = false;
    bool cow = false;      // private frame shared with another page table since fork
    bool host_ro = false;  // host-mapped without write although the VMA has it
  };
  Vma* find_vma(uint64_t addr);
  bool range_free(uint64_t start, uint64_t end) const;
  Result<uint64_t> find_free(uint64_t len, uint64_t hint);
  // Splits VMAs so that `at` is a boundary.
  void split_at(uint64_t at);
  // Frees pages and VMAs in [start, end); drops host mappings.
  void remove_range(uint64_t start, uint64_t end);
  // The page's frame, allocating and filling it on first touch.
  // `*fresh` (when given) is set when the page got a never-used frame, whose
  // host page does not exist yet.
  Result<Pte*> ensure_page(uint64_t vpn, Vma& vma, bool* fresh = nullptr);
  // Kernel access to one page range within a page; checks prot unless force.
  Result<uint8_t*> kernel_page(uint64_t addr, bool write, bool force);
  // Gives a cow page a frame of its own (a copy, unless no other page table
  // uses the frame any more). Returns true when the frame changed.
  Result<bool> break_cow(Pte& pte);
  // Maps pages [vpn, vpn+n) (consecutive frames from `frame`) into the host
  // with `prot`, and hands the range to the frame store.
  Result<void> host_map(uint64_t vpn, uint64_t n, uint64_t frame, int prot,
                        bool populate = false);
  // Writes back shared file pages of [start, end) in VMAs that were writable.
  void write_back_range(uint64_t start, uint64_t end);

  // The address space's userfaultfd (SIGBUS mode), made on the first host
  // mapping and handed to the frame store with attach(); invalid when the
  // platform has none (the local store needs none).
  void ensure_uffd();
  base::UniqueFd uffd_;
  bool uffd_tried_ = false;

  dsm::FrameStore& store_;
  FrameAllocator& alloc_;
  uint8_t* frames_;
  platform::AddressSpace* as_;
  std::map<uint64_t, Vma> vmas_;   // by start
  std::map<uint64_t, Pte> pages_;  // by guest page number
  uint64_t brk_start_ = 0;
  uint64_t brk_end_ = 0;
};

}  // namespace kernel::mm
