#include "kernel/mm/memory_manager.h"

#include <linux/userfaultfd.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "base/bytes.h"
#include "dsm/local/local_frame_store.h"

namespace kernel::mm {
namespace {

using base::kPageSize;
using base::page_round_down;
using base::page_round_up;

// How many pages a guest fault maps at once (fault-around), so sequential
// touches cost one injected mmap per window, not per page. Anonymous memory
// takes a wider window: its fresh frames need no filling (they read as
// zeros), and the host gives a page its memory only when the guest touches
// it, at the cost of a native page fault. File pages are read one by one.
constexpr uint64_t kFaultAroundFile = 16;
constexpr uint64_t kFaultAroundAnon = 64;

int host_prot(int prot) { return prot & (PROT_READ | PROT_WRITE | PROT_EXEC); }

}  // namespace

MemoryManager::~MemoryManager() {
  // Before uffd_ closes: the store must not keep attachments through a
  // closed fd, nor take a later address space's uffd (same number) for it.
  if (uffd_.valid()) store_.detach_all(uffd_.get());
  write_back_range(0, platform::kGuestTop);
  for (auto& [vpn, pte] : pages_) alloc_.unref(pte.frame);
}

void MemoryManager::write_back_range(uint64_t start, uint64_t end) {
  for (auto& [s, v] : vmas_) {
    if (v.end <= start || s >= end) continue;
    if (!v.object || !v.object->is_file() || !v.ever_writable) continue;
    uint64_t lo = std::max(start, v.start), hi = std::min(end, v.end);
    uint64_t first = v.object_pgoff + (lo - v.start) / kPageSize;
    uint64_t last = v.object_pgoff + (hi - v.start + kPageSize - 1) / kPageSize;
    (void)v.object->write_back(first, last);
  }
}

Vma* MemoryManager::find_vma(uint64_t addr) {
  auto it = vmas_.upper_bound(addr);
  if (it == vmas_.begin()) return nullptr;
  --it;
  return addr < it->second.end ? &it->second : nullptr;
}

bool MemoryManager::range_free(uint64_t start, uint64_t end) const {
  auto it = vmas_.lower_bound(start);
  if (it != vmas_.end() && it->second.start < end) return false;
  if (it != vmas_.begin() && std::prev(it)->second.end > start) return false;
  return true;
}

Result<uint64_t> MemoryManager::find_free(uint64_t len, uint64_t hint) {
  if (hint >= platform::kGuestMin && hint + len <= kMmapTop && hint + len > hint &&
      range_free(hint, hint + len))
    return hint;
  // Top-down from kMmapTop, like Linux's default layout.
  uint64_t top = kMmapTop;
  auto it = vmas_.lower_bound(top);
  while (true) {
    uint64_t floor = platform::kGuestMin;
    if (it != vmas_.begin()) floor = std::prev(it)->second.end;
    if (top >= floor + len) return top - len;
    if (it == vmas_.begin()) return Errno(ENOMEM);
    --it;
    top = std::min(top, it->second.start);
  }
}

void MemoryManager::split_at(uint64_t at) {
  Vma* v = find_vma(at);
  if (!v || v->start == at) return;
  Vma hi = *v;
  hi.start = at;
  if (hi.file) hi.file_offset += at - v->start;
  if (hi.object) hi.object_pgoff += (at - v->start) / kPageSize;
  if (hi.file) hi.file_size = hi.file_size > at - v->start ? hi.file_size - (at - v->start) : 0;
  v->end = at;
  vmas_.emplace(at, std::move(hi));
}

void MemoryManager::remove_range(uint64_t start, uint64_t end) {
  write_back_range(start, end);
  split_at(start);
  split_at(end);
  for (auto it = vmas_.lower_bound(start); it != vmas_.end() && it->first < end;)
    it = vmas_.erase(it);
  bool any_host = false;
  for (auto it = pages_.lower_bound(start / kPageSize);
       it != pages_.end() && it->first < end / kPageSize;) {
    any_host |= it->second.host_mapped;
    alloc_.unref(it->second.frame);
    it = pages_.erase(it);
  }
  if (any_host && as_) {
    if (uffd_.valid()) store_.detach(uffd_.get(), start, (end - start) / kPageSize);
    (void)as_->unmap(start, end - start);
  }
}

Result<uint64_t> MemoryManager::mmap(uint64_t addr, uint64_t len, int prot, int flags,
                                     std::shared_ptr<base::UniqueFd> file, uint64_t offset) {
  if (len == 0) return Errno(EINVAL);
  if (offset % kPageSize) return Errno(EINVAL);
  uint64_t rlen = page_round_up(len);
  if (rlen < len || rlen > platform::kGuestTop) return Errno(ENOMEM);
  int type = flags & MAP_SHARED_VALIDATE;
  if (type != MAP_SHARED && type != MAP_PRIVATE && type != MAP_SHARED_VALIDATE)
    return Errno(EINVAL);
  bool fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE);
  if (fixed) {
    if (addr % kPageSize) return Errno(EINVAL);
    if (addr < platform::kGuestMin || addr + rlen > platform::kGuestTop || addr + rlen < addr)
      return Errno(flags & MAP_FIXED_NOREPLACE ? EEXIST : ENOMEM);
    if (!range_free(addr, addr + rlen)) {
      if (flags & MAP_FIXED_NOREPLACE) return Errno(EEXIST);
      remove_range(addr, addr + rlen);
    }
  } else {
    addr = TRY(find_free(rlen, page_round_down(addr)));
  }
  Vma v;
  v.start = addr;
  v.end = addr + rlen;
  v.prot = prot;
  v.shared = type != MAP_PRIVATE;
  v.ever_writable = prot & PROT_WRITE;
  if (file) {
    struct stat st;
    if (::fstat(file->get(), &st) < 0) return Errno::last();
    if (v.shared) {
      v.object = TRY(alloc_.shared_files().get(alloc_, store_, frames_, file));
      v.object_pgoff = offset / kPageSize;
    }
    v.file = std::move(file);
    v.file_offset = offset;
    v.file_size = static_cast<uint64_t>(st.st_size) > offset ? st.st_size - offset : 0;
  } else if (v.shared) {
    v.object = std::make_shared<SharedObject>(alloc_, store_, frames_, nullptr);
  }
  vmas_.emplace(addr, std::move(v));
  return addr;
}

Result<void> MemoryManager::munmap(uint64_t addr, uint64_t len) {
  if (addr % kPageSize || len == 0) return Errno(EINVAL);
  uint64_t end = page_round_up(addr + len);
  if (end < addr || end > platform::kGuestTop) return Errno(EINVAL);
  remove_range(addr, end);
  return {};
}

Result<void> MemoryManager::mprotect(uint64_t addr, uint64_t len, int prot) {
  if (addr % kPageSize) return Errno(EINVAL);
  uint64_t end = page_round_up(addr + len);
  if (end < addr) return Errno(ENOMEM);
  if (len == 0) return {};
  // Every page of the range must be mapped (ENOMEM otherwise, as Linux).
  for (uint64_t a = addr; a < end;) {
    Vma* v = find_vma(a);
    if (!v) return Errno(ENOMEM);
    a = v->end;
  }
  split_at(addr);
  split_at(end);
  for (auto it = vmas_.lower_bound(addr); it != vmas_.end() && it->first < end; ++it) {
    it->second.prot = prot;
    it->second.ever_writable |= (prot & PROT_WRITE) != 0;
  }
  // Drop host mappings; the next touch maps again with the new protection.
  bool any_host = false;
  for (auto it = pages_.lower_bound(addr / kPageSize);
       it != pages_.end() && it->first < end / kPageSize; ++it) {
    any_host |= it->second.host_mapped;
    it->second.host_mapped = false;
    it->second.host_ro = false;
  }
  if (any_host && as_) {
    if (uffd_.valid()) store_.detach(uffd_.get(), addr, (end - addr) / kPageSize);
    TRY(as_->unmap(addr, end - addr));
  }
  return {};
}

Result<void> MemoryManager::msync(uint64_t addr, uint64_t len) {
  if (addr % kPageSize) return Errno(EINVAL);
  uint64_t end = page_round_up(addr + len);
  if (end < addr) return Errno(ENOMEM);
  for (uint64_t a = addr; a < end;) {
    Vma* v = find_vma(a);
    if (!v) return Errno(ENOMEM);
    a = v->end;
  }
  write_back_range(addr, end);
  return {};
}

Result<uint64_t> MemoryManager::mremap(uint64_t old_addr, uint64_t old_len, uint64_t new_len,
                                       int flags, uint64_t new_addr) {
  constexpr int kMayMove = 1, kFixed = 2;
  if (old_addr % kPageSize || (flags & ~(kMayMove | kFixed)) ||
      ((flags & kFixed) && !(flags & kMayMove)))
    return Errno(EINVAL);
  old_len = page_round_up(old_len);
  uint64_t nlen = page_round_up(new_len);
  if (nlen == 0 || nlen < new_len || nlen > platform::kGuestTop) return Errno(EINVAL);
  Vma* v = find_vma(old_addr);
  if (!v || old_addr + old_len > v->end || old_addr + old_len < old_addr) return Errno(EFAULT);
  if (!(flags & kFixed)) {
    if (nlen <= old_len) {
      if (nlen < old_len) remove_range(old_addr + nlen, old_addr + old_len);
      return old_addr;
    }
    // Grow in place when the VMA ends here and the space after is free.
    if (v->end == old_addr + old_len && old_addr + nlen <= kMmapTop &&
        range_free(old_addr + old_len, old_addr + nlen)) {
      v->end = old_addr + nlen;
      return old_addr;
    }
    if (!(flags & kMayMove)) return Errno(ENOMEM);
    new_addr = TRY(find_free(nlen, 0));
  } else {
    if (new_addr % kPageSize || new_addr < platform::kGuestMin ||
        new_addr + nlen > platform::kGuestTop)
      return Errno(EINVAL);
    if (new_addr < old_addr + old_len && old_addr < new_addr + nlen) return Errno(EINVAL);
    remove_range(new_addr, new_addr + nlen);
    v = find_vma(old_addr);  // remove_range may have split the map
    if (!v) return Errno(EFAULT);
  }
  // Move: a VMA like the old part at the new place, the frames with it.
  split_at(old_addr);
  split_at(old_addr + old_len);
  Vma moved = *find_vma(old_addr);
  moved.start = new_addr;
  moved.end = new_addr + nlen;

  std::vector<std::pair<uint64_t, Pte>> pages;
  bool any_host = false;
  for (auto it = pages_.lower_bound(old_addr / kPageSize);
       it != pages_.end() && it->first < (old_addr + std::min(old_len, nlen)) / kPageSize;) {
    any_host |= it->second.host_mapped;
    pages.emplace_back(it->first - old_addr / kPageSize + new_addr / kPageSize,
                       Pte{it->second.frame, false, it->second.cow, false});
    it = pages_.erase(it);
  }
  if (any_host && as_) {
    if (uffd_.valid()) store_.detach(uffd_.get(), old_addr, old_len / kPageSize);
    (void)as_->unmap(old_addr, old_len);
  }
  remove_range(old_addr, old_addr + old_len);  // frees what did not move (a shrink)
  vmas_.emplace(new_addr, std::move(moved));
  for (auto& [vpn, pte] : pages) pages_.emplace(vpn, pte);
  return new_addr;
}

Result<uint64_t> MemoryManager::brk(uint64_t new_brk) {
  if (new_brk < brk_start_) return brk_end_;
  uint64_t old_top = page_round_up(brk_end_);
  uint64_t new_top = page_round_up(new_brk);
  if (new_top > old_top) {
    if (new_top > kMmapTop || !range_free(old_top, new_top)) return brk_end_;
    Vma v;
    v.start = old_top;
    v.end = new_top;
    v.prot = PROT_READ | PROT_WRITE;
    // Grow the previous brk VMA in place when it ends where we start.
    Vma* prev = old_top > brk_start_ ? find_vma(old_top - 1) : nullptr;
    if (prev && !prev->file && !prev->shared && prev->prot == v.prot)
      prev->end = new_top;
    else
      vmas_.emplace(old_top, v);
  } else if (new_top < old_top) {
    remove_range(new_top, old_top);
  }
  brk_end_ = new_brk;
  return brk_end_;
}

Result<MemoryManager::Pte*> MemoryManager::ensure_page(uint64_t vpn, Vma& vma, bool* fresh) {
  auto it = pages_.find(vpn);
  if (it != pages_.end()) return &it->second;
  if (vma.object) {
    uint64_t frame = TRY(vma.object->frame_at(vma.object_pgoff + vpn - vma.start / kPageSize));
    alloc_.ref(frame);
    return &pages_.emplace(vpn, Pte{frame}).first->second;
  }
  bool zeroed = false;
  uint64_t frame = TRY(alloc_.allocate(&zeroed));
  if (fresh) *fresh = zeroed;
  if (!store_.make_present(frame, 1, dsm::Access::kWrite).ok()) {
    alloc_.unref(frame);
    return Errno(EFAULT);
  }
  uint8_t* page = frames_ + frame * kPageSize;
  // A fresh frame reads as zeros already: leaving it alone also leaves its
  // memory to be allocated by the host at the guest's own first touch.
  if (!zeroed) std::memset(page, 0, kPageSize);
  if (vma.file) {
    uint64_t into = vpn * kPageSize - vma.start;
    if (into < vma.file_size) {
      uint64_t n = std::min<uint64_t>(kPageSize, vma.file_size - into);
      ssize_t got = ::pread(vma.file->get(), page, n, vma.file_offset + into);
      (void)got;  // short reads leave zeros, as reading past EOF does
    }
  }
  return &pages_.emplace(vpn, Pte{frame}).first->second;
}

Result<bool> MemoryManager::break_cow(Pte& pte) {
  if (!pte.cow) return false;
  if (alloc_.refs(pte.frame) <= 1) {
    pte.cow = false;  // the other users are gone: the frame is ours
    return false;
  }
  uint64_t f = TRY(alloc_.allocate());
  if (!store_.make_present(pte.frame, 1, dsm::Access::kRead).ok() ||
      !store_.make_present(f, 1, dsm::Access::kWrite).ok()) {
    alloc_.unref(f);
    return Errno(EFAULT);
  }
  std::memcpy(frames_ + f * kPageSize, frames_ + pte.frame * kPageSize, kPageSize);
  alloc_.unref(pte.frame);
  pte.frame = f;
  pte.cow = false;
  return true;
}

Result<void> MemoryManager::host_map(uint64_t vpn, uint64_t n, uint64_t frame, int prot,
                                     bool populate) {
  TRY(as_->map(vpn * kPageSize, n * kPageSize, prot, frame * kPageSize, populate));
  if (uffd_.valid() && !store_.attach(uffd_.get(), vpn * kPageSize, frame, n).ok())
    return Errno(EFAULT);
  return {};
}

void MemoryManager::ensure_uffd() {
  if (uffd_tried_ || !as_) return;
  uffd_tried_ = true;
  // The single-node store has every frame present always and documents
  // attach/detach/resolve_fault as no-ops: a userfaultfd would cost two
  // injections and two host calls per address space (each fork and exec)
  // for nothing.
  if (dynamic_cast<dsm::LocalFrameStore*>(&store_)) return;
  auto fd = as_->create_userfaultfd();
  if (!fd.ok()) {
    spdlog::debug("no userfaultfd for an address space: {}", std::strerror(fd.error().code));
    return;
  }
  // SIGBUS mode: a missing frame is a fault stop the kernel resolves itself
  // (DESIGN.md "Frames"); write-protect on shmem where the host has it.
  constexpr uint64_t kWpShmem = 1ull << 12;  // UFFD_FEATURE_WP_HUGETLBFS_SHMEM
  for (uint64_t features : {UFFD_FEATURE_SIGBUS | kWpShmem, uint64_t{UFFD_FEATURE_SIGBUS}}) {
    struct uffdio_api api = {};
    api.api = UFFD_API;
    api.features = features;
    if (::ioctl(fd->get(), UFFDIO_API, &api) == 0) {
      uffd_ = std::move(*fd);
      return;
    }
    // A failed handshake spends the fd: make a new one for the next try.
    fd = as_->create_userfaultfd();
    if (!fd.ok()) return;
  }
}

Result<void> MemoryManager::handle_fault(uint64_t addr, bool missing_frame) {
  Vma* v = find_vma(addr);
  if (!v || !(v->prot & (PROT_READ | PROT_WRITE | PROT_EXEC))) return Errno(EFAULT);
  uint64_t vpn = addr / kPageSize;
  auto it = pages_.find(vpn);
  if (missing_frame && it != pages_.end() && it->second.host_mapped && uffd_.valid()) {
    // The access kind is not reported by the host: ask for what the
    // mapping allows (write when writable), which is always enough.
    auto access = (v->prot & PROT_WRITE) ? dsm::Access::kWrite : dsm::Access::kRead;
    if (!store_.resolve_fault(uffd_.get(), page_round_down(addr), access).ok())
      return Errno(EFAULT);
    return {};
  }
  bool writable = v->prot & PROT_WRITE;
  if (it != pages_.end() && it->second.host_mapped) {
    // Mapped already with the VMA's protection: the access itself is
    // refused. Mapped read-only on a writable VMA: a write to a cow page.
    if (!writable || !(it->second.cow || it->second.host_ro) || !as_) return Errno(EFAULT);
    Pte& pte = it->second;
    bool moved = TRY(break_cow(pte));
    if (moved && uffd_.valid()) store_.detach(uffd_.get(), vpn * kPageSize, 1);
    if (moved)
      TRY(host_map(vpn, 1, pte.frame, host_prot(v->prot)));
    else
      TRY(as_->protect(vpn * kPageSize, kPageSize, host_prot(v->prot)));
    pte.host_ro = false;
    return {};
  }
  if (!as_) return Errno(EFAULT);
  ensure_uffd();
  bool anon = !v->file && !v->object;
  uint64_t around = anon ? kFaultAroundAnon : kFaultAroundFile;
  uint64_t lo = std::max(v->start / kPageSize, vpn & ~(around - 1));
  uint64_t hi = std::min(v->end / kPageSize, (vpn | (around - 1)) + 1);
  // The faulting page of a cow frame gets its own copy now: the access is
  // most likely a write (a read costs a 4 KiB copy; guessing wrong the other
  // way would cost a second fault). Pages around it stay shared, read-only.
  if (writable) {
    Pte* pte = TRY(ensure_page(vpn, *v));
    TRY(break_cow(*pte));
  }
  // Map runs of pages whose frames are consecutive and whose host protection
  // is the same, one injection per run. An anonymous run whose frames all
  // have host pages already (reused frames, cleared above by ensure_page)
  // is mapped populated when the frame store allows it: the host fills the
  // page table in one call (~0.23 us a page here) instead of one host fault
  // per page at the guest's touch (~0.9 us). Fresh frames are not: the host
  // would allocate every page of the window (MAP_POPULATE of fresh shmem was
  // measured slower than the guest's own faults).
  int prot = host_prot(v->prot);
  uint64_t run_start = 0, run_frame = 0, run_len = 0;
  bool run_ro = false, run_fresh = false;
  auto flush = [&]() -> Result<void> {
    if (run_len == 0) return {};
    bool populate = anon && !run_fresh && store_.host_prefault_ok(run_frame, run_len);
    TRY(host_map(run_start, run_len, run_frame, run_ro ? prot & ~PROT_WRITE : prot, populate));
    for (uint64_t i = 0; i < run_len; ++i) {
      Pte& p = pages_[run_start + i];
      p.host_mapped = true;
      p.host_ro = run_ro;
    }
    run_len = 0;
    return {};
  };
  for (uint64_t p = lo; p < hi; ++p) {
    auto existing = pages_.find(p);
    if (existing != pages_.end() && existing->second.host_mapped) {
      TRY(flush());
      continue;
    }
    bool fresh = false;
    Pte* pte = TRY(ensure_page(p, *v, &fresh));
    bool ro = writable && pte->cow;
    if (run_len && pte->frame == run_frame + run_len && p == run_start + run_len && ro == run_ro) {
      ++run_len;
      run_fresh |= fresh;
    } else {
      TRY(flush());
      run_start = p;
      run_frame = pte->frame;
      run_len = 1;
      run_ro = ro;
      run_fresh = fresh;
    }
  }
  TRY(flush());
  return {};
}

Result<uint8_t*> MemoryManager::kernel_page(uint64_t addr, bool write, bool force) {
  Vma* v = find_vma(addr);
  if (!v) return Errno(EFAULT);
  if (!force && !(v->prot & (write ? PROT_WRITE : PROT_READ))) return Errno(EFAULT);
  uint64_t vpn = addr / kPageSize;
  Pte* pte = TRY(ensure_page(vpn, *v));
  if (write && pte->cow) {
    bool moved = TRY(break_cow(*pte));
    if (moved && pte->host_mapped && as_) {
      // The guest must see the copy: map it in place of the shared frame
      // (read-only when the VMA is: the loader writes with force).
      if (uffd_.valid()) store_.detach(uffd_.get(), vpn * kPageSize, 1);
      int prot = host_prot(v->prot);
      TRY(host_map(vpn, 1, pte->frame, prot));
      pte->host_ro = false;
    }
  }
  if (!store_.make_present(pte->frame, 1, write ? dsm::Access::kWrite : dsm::Access::kRead).ok())
    return Errno(EFAULT);
  return frames_ + pte->frame * kPageSize + addr % kPageSize;
}

Result<void> MemoryManager::copy_in(uint64_t addr, void* dst, size_t len) {
  if (addr + len < addr) return Errno(EFAULT);
  auto* out = static_cast<uint8_t*>(dst);
  while (len > 0) {
    size_t n = std::min<size_t>(len, kPageSize - addr % kPageSize);
    uint8_t* src = TRY(kernel_page(addr, false, false));
    std::memcpy(out, src, n);
    out += n;
    addr += n;
    len -= n;
  }
  return {};
}

Result<void> MemoryManager::copy_out(uint64_t addr, const void* src, size_t len, bool force) {
  if (addr + len < addr) return Errno(EFAULT);
  auto* in = static_cast<const uint8_t*>(src);
  while (len > 0) {
    size_t n = std::min<size_t>(len, kPageSize - addr % kPageSize);
    uint8_t* dst = TRY(kernel_page(addr, true, force));
    std::memcpy(dst, in, n);
    in += n;
    addr += n;
    len -= n;
  }
  return {};
}

Result<std::string> MemoryManager::copy_in_string(uint64_t addr, size_t max) {
  std::string s;
  while (true) {
    size_t n = kPageSize - addr % kPageSize;
    const uint8_t* p = TRY(kernel_page(addr, false, false));
    const void* nul = std::memchr(p, 0, n);
    size_t take = nul ? static_cast<const uint8_t*>(nul) - p : n;
    s.append(reinterpret_cast<const char*>(p), take);
    if (s.size() >= max) return Errno(ENAMETOOLONG);
    if (nul) return s;
    addr += n;
  }
}

Result<std::vector<iovec>> MemoryManager::host_iovecs(uint64_t addr, size_t len, bool write) {
  if (addr + len < addr) return Errno(EFAULT);
  std::vector<iovec> iov;
  while (len > 0) {
    size_t n = std::min<size_t>(len, kPageSize - addr % kPageSize);
    uint8_t* p = TRY(kernel_page(addr, write, false));
    if (!iov.empty() && static_cast<uint8_t*>(iov.back().iov_base) + iov.back().iov_len == p)
      iov.back().iov_len += n;
    else
      iov.push_back({p, n});
    addr += n;
    len -= n;
  }
  return iov;
}

Result<uint64_t> MemoryManager::frame_of(uint64_t vaddr) {
  auto it = pages_.find(vaddr / kPageSize);
  if (it == pages_.end()) return Errno(EFAULT);
  if (it->second.cow) TRY(kernel_page(vaddr, true, true));  // breaks it (and remaps)
  return it->second.frame;
}

Result<uint64_t> MemoryManager::peek_frame(uint64_t vaddr) const {
  auto it = pages_.find(vaddr / kPageSize);
  if (it == pages_.end()) return Errno(EFAULT);
  return it->second.frame;
}

std::shared_ptr<SharedObject> MemoryManager::shared_file(uint64_t dev, uint64_t ino) {
  SharedFileTable* table = alloc_.shared_files_if_made();
  return table ? table->find(dev, ino) : nullptr;
}

Result<std::unique_ptr<MemoryManager>> MemoryManager::fork(platform::AddressSpace* as) {
  auto child = std::make_unique<MemoryManager>(store_, alloc_, frames_, as);
  child->vmas_ = vmas_;  // shared VMAs keep their SharedObject
  child->brk_start_ = brk_start_;
  child->brk_end_ = brk_end_;
  // Our host mappings of private writable pages turn read-only, one
  // mprotect per run of consecutive mapped pages of one VMA.
  uint64_t run_start = 0, run_len = 0;
  int run_prot = 0;
  auto flush = [&]() -> Result<void> {
    if (run_len && as_) TRY(as_->protect(run_start * kPageSize, run_len * kPageSize, run_prot));
    run_len = 0;
    return {};
  };
  const Vma* v = nullptr;
  for (auto& [vpn, pte] : pages_) {
    uint64_t addr = vpn * kPageSize;
    if (!v || addr < v->start || addr >= v->end) v = find_vma(addr);
    alloc_.ref(pte.frame);
    bool priv = !v || !v->object;
    child->pages_.emplace(vpn, Pte{pte.frame, false, priv, false});
    if (!priv) continue;
    pte.cow = true;
    if (!pte.host_mapped || pte.host_ro || !v || !(v->prot & PROT_WRITE)) {
      TRY(flush());
      continue;
    }
    pte.host_ro = true;
    int prot = host_prot(v->prot) & ~PROT_WRITE;
    if (run_len && vpn == run_start + run_len && prot == run_prot && addr != v->start) {
      ++run_len;
    } else {
      TRY(flush());
      run_start = vpn;
      run_len = 1;
      run_prot = prot;
    }
  }
  TRY(flush());
  return child;
}

}  // namespace kernel::mm
