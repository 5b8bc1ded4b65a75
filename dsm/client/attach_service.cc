#include "dsm/client/attach_service.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <fstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "dsm/fault/uffd.h"

namespace dsm::client {
namespace {

constexpr uint64_t kPage = 4096;

// "anon_inode:[userfaultfd]" is what a userfaultfd's /proc link reads.
bool is_userfaultfd(int fd) {
  char link[64];
  std::string path = fmt::format("/proc/self/fd/{}", fd);
  ssize_t n = ::readlink(path.c_str(), link, sizeof(link) - 1);
  if (n < 0) return false;
  link[n] = '\0';
  return std::string_view(link) == "anon_inode:[userfaultfd]";
}

}  // namespace

base::Status check_shared_mapping(pid_t pid, uint64_t address, uint64_t count, ino_t inode,
                                  uint64_t offset, dev_t dev) {
  const std::string path = fmt::format("/proc/{}/maps", pid);
  std::ifstream in(path);
  if (!in) return base::Error(fmt::format("cannot read {}", path), EPERM);
  const uint64_t end = address + count * kPage;
  uint64_t covered = address;  // [address, covered) checked so far
  for (std::string line; std::getline(in, line) && covered < end;) {
    uint64_t lo, hi, off, ino;
    unsigned maj, min;
    char perms[5] = {};
    if (std::sscanf(line.c_str(), "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %x:%x %" SCNu64, &lo,
                    &hi, perms, &off, &maj, &min, &ino) != 7) {
      continue;
    }
    if (hi <= covered || lo > covered) continue;
    if (ino != inode || maj != major(dev) || min != minor(dev)) {
      return base::Error(
          fmt::format("address {:#x} is not a mapping of the region's memfd", covered), EINVAL);
    }
    if (perms[3] != 's') {
      return base::Error(
          fmt::format("address {:#x}: the region must be mapped MAP_SHARED", covered), EINVAL);
    }
    if (off + (covered - lo) != offset + (covered - address)) {
      return base::Error(fmt::format("address {:#x} maps memfd offset {:#x}, not frame {}'s",
                                     covered, off + (covered - lo), offset / kPage),
                         EINVAL);
    }
    covered = hi;
  }
  if (covered < end) {
    return base::Error(fmt::format("address {:#x} is not mapped in process {}", covered, pid),
                       EINVAL);
  }
  return {};
}

AttachService::AttachService(std::string node_name, std::vector<ServedRegion> regions)
    : node_(std::move(node_name)), regions_(std::move(regions)) {}

AttachService::~AttachService() {
  std::vector<uint64_t> ids;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, a] : attached_) ids.push_back(id);
  }
  for (uint64_t id : ids) detach(id);
}

const ServedRegion* AttachService::find(const std::string& name) const {
  for (const ServedRegion& r : regions_) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

std::string AttachService::names() const {
  std::string out;
  for (const ServedRegion& r : regions_) out += (out.empty() ? "" : ", ") + r.name;
  return out;
}

base::StatusOr<rpc::control::RegionInfo> AttachService::open_region(
    const std::string& name, const rpc::control::PeerCredentials& peer, int* memfd) {
  const ServedRegion* r = find(name);
  if (!r) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("attach: pid {} asked for region \"{}\", which node {} does not serve", peer.pid,
                 name, node_);
    return base::Error(
        fmt::format("node {} serves no region named \"{}\" (regions: {})", node_, name, names()),
        ENOENT);
  }
  *memfd = r->store->memfd();
  rpc::control::RegionInfo info;
  info.name = r->name;
  info.frames = r->store->frame_count();
  info.frame_size = kPage;
  info.protocol = r->protocol;
  info.node = node_;
  return info;
}

base::StatusOr<uint64_t> AttachService::attach(const std::string& name,
                                               const rpc::control::PeerCredentials& peer,
                                               base::UniqueFd uffd, uint64_t address,
                                               uint64_t first, uint64_t count) {
  const ServedRegion* r = find(name);
  auto id = r ? checked_attach(*r, peer, std::move(uffd), address, first, count)
              : base::StatusOr<uint64_t>(
                    base::Error(fmt::format("no region named \"{}\"", name), ENOENT));
  if (!id.ok()) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("attach: pid {} refused: {}", peer.pid, id.error().message());
    return base::Error(fmt::format("attach: {}", id.error().message()), id.error().code());
  }
  attaches_.fetch_add(1, std::memory_order_relaxed);
  spdlog::info("attach: pid {} attached frames [{}, {}) of region {} at {:#x}", peer.pid, first,
               first + count, name, address);
  return id;
}

base::StatusOr<uint64_t> AttachService::checked_attach(const ServedRegion& r,
                                                       const rpc::control::PeerCredentials& peer,
                                                       base::UniqueFd uffd, uint64_t address,
                                                       uint64_t first, uint64_t count) {
  const uint64_t frames = r.store->frame_count();
  if (count == 0 || first >= frames || count > frames - first) {
    return base::Error(fmt::format("frames [{}, {}) lie outside the region ({} frames)", first,
                                   first + count, frames),
                       EINVAL);
  }
  if (address % kPage != 0) return base::Error("the address is not page-aligned", EINVAL);
  if (!is_userfaultfd(uffd.get())) return base::Error("the fd sent is not a userfaultfd", EBADF);
  // The node chooses the features: a userfaultfd already initialised may
  // have asked for events (fork, remap) whose reading would hand fds over.
  // POISON where the kernel has it: a lost frame then gives the client
  // SIGBUS (dsm/PROTOCOLS.md "Node failure").
  bool fresh = TRY(uffd::handshake(uffd.get(), uffd::kShmemFeatures, uffd::kOptionalFeatures));
  if (!fresh) {
    return base::Error("the userfaultfd was already initialised (UFFDIO_API): send a fresh one",
                       EINVAL);
  }
  // The engine's handlers read it in batches and expect EAGAIN when empty.
  int fl = ::fcntl(uffd.get(), F_GETFL);
  if (fl < 0 || ::fcntl(uffd.get(), F_SETFL, fl | O_NONBLOCK) != 0) {
    return base::Error::from_errno("fcntl(userfaultfd, O_NONBLOCK)");
  }
  struct stat st;
  if (::fstat(r.store->memfd(), &st) != 0) return base::Error::from_errno("fstat(memfd)");
  TRY(check_shared_mapping(peer.pid, address, count, st.st_ino, first * kPage, st.st_dev));
  TRY(r.store->attach(uffd.get(), address, first, count));
  std::lock_guard lock(mu_);
  uint64_t id = next_id_++;
  attached_.emplace(id,
                    Attached{r.name, r.store, std::move(uffd), address, first, count, peer.pid});
  return id;
}

void AttachService::detach(uint64_t id) {
  Attached a;
  {
    std::lock_guard lock(mu_);
    auto it = attached_.find(id);
    if (it == attached_.end()) return;
    a = std::move(it->second);
    attached_.erase(it);
  }
  // After this no handler reads the fd.
  a.store->detach(a.uffd.get(), a.address, a.count);
  detaches_.fetch_add(1, std::memory_order_relaxed);
  retire(std::move(a.uffd));
  spdlog::info("attach: pid {} detached frames [{}, {}) of region {}", a.pid, a.first,
               a.first + a.count, a.region);
}

void AttachService::retire(base::UniqueFd uffd) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  while (!retired_.empty() && now - retired_.front().first > kRetireFor) retired_.pop_front();
  retired_.emplace_back(now, std::move(uffd));
}

rpc::control::StatsInfo AttachService::region_stats(const std::string& name) {
  const ServedRegion* r = find(name);
  if (!r || !r->stats) return {};
  return r->stats();
}

uint64_t AttachService::attached() const {
  std::lock_guard lock(mu_);
  return attached_.size();
}

void AttachService::add_counters(std::vector<rpc::control::Counter>& out) const {
  out.push_back({"clients", "attached", attached()});
  out.push_back({"clients", "attaches", attaches_.load(std::memory_order_relaxed)});
  out.push_back({"clients", "detaches", detaches_.load(std::memory_order_relaxed)});
  out.push_back({"clients", "refused", refused_.load(std::memory_order_relaxed)});
}

}  // namespace dsm::client
