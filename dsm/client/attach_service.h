#pragma once
// The node's side of the DSM research API: lets local processes attach the
// regions a node serves (rpc::control::RegionService, reached through the
// node's attach socket; rpc/control/CONTROL.md "Attach"). The client side is
// client.h.
//
// A client maps the region's memfd MAP_SHARED and hands over a fresh
// userfaultfd for that mapping; attach() checks it and gives it to the
// region's FrameStore (FaultEngine::attach), whose handler threads serve the
// client's faults like any mapping of the node's own: remote fetches,
// coherence upgrades, and invalidations and downgrades that punch and
// write-protect through the shared memfd. detach() (the client closing or
// dying: its connection ends) undoes it and closes the userfaultfd (a few
// seconds later, see retire()).
//
// What attach() checks, so that a confused client gets an error rather than
// hurting the node: the fd is a userfaultfd nobody initialised (the node
// chooses its features; a fresh one cannot have asked for fork or remap
// events that would hand fds to the node), it is non-blocking for the
// engine's batch reads, the frames lie in the region, and the address range
// is, in the peer's /proc/PID/maps, a shared mapping of the region's memfd at
// the matching offset.
//
// Threads: calls come from the control server's thread; stats from any.
// Lock: mu_ (a leaf: the FrameStore is called outside it).

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "base/thread_annotations.h"
#include "base/unique_fd.h"
#include "dsm/frame_store.h"
#include "rpc/control/attach_types.h"

namespace dsm::client {

// A region a node lets local processes attach.
struct ServedRegion {
  std::string name;  // "guest" for the guest-RAM region
  FrameStore* store = nullptr;
  std::string protocol;
  // The region's counters, for Region.stats() (group "region").
  std::function<rpc::control::StatsInfo()> stats;
};

class AttachService final : public rpc::control::RegionService {
 public:
  // Every store must outlive the service.
  AttachService(std::string node_name, std::vector<ServedRegion> regions);
  // Detaches whatever is still attached.
  ~AttachService() override;

  base::StatusOr<rpc::control::RegionInfo> open_region(const std::string& name,
                                                       const rpc::control::PeerCredentials& peer,
                                                       int* memfd) override;
  base::StatusOr<uint64_t> attach(const std::string& name,
                                  const rpc::control::PeerCredentials& peer, base::UniqueFd uffd,
                                  uint64_t address, uint64_t first, uint64_t count) override;
  void detach(uint64_t id) override;
  rpc::control::StatsInfo region_stats(const std::string& name) override;

  // Group "clients": attached (now), attaches, detaches, refused (opens and
  // attaches that failed their checks).
  void add_counters(std::vector<rpc::control::Counter>& out) const;
  uint64_t attached() const;

 private:
  struct Attached {
    std::string region;
    FrameStore* store;
    base::UniqueFd uffd;
    uint64_t address, first, count;
    pid_t pid;
  };
  // Keeps a detached userfaultfd open a while before closing it. The engine
  // skips waiters of a detached uffd (each attach has a generation), but a
  // handler that read a fault just before the detach may still wake or
  // unprotect by fd number for a few microseconds; the fd number must not
  // name a newer client's userfaultfd by then (fd reuse).
  static constexpr std::chrono::seconds kRetireFor{10};
  void retire(base::UniqueFd uffd);

  const ServedRegion* find(const std::string& name) const;
  std::string names() const;
  base::StatusOr<uint64_t> checked_attach(const ServedRegion& region,
                                          const rpc::control::PeerCredentials& peer,
                                          base::UniqueFd uffd, uint64_t address, uint64_t first,
                                          uint64_t count);

  const std::string node_;
  const std::vector<ServedRegion> regions_;
  mutable std::mutex mu_;
  std::map<uint64_t, Attached> attached_ GUARDED_BY(mu_);
  uint64_t next_id_ GUARDED_BY(mu_) = 1;
  std::deque<std::pair<std::chrono::steady_clock::time_point, base::UniqueFd>> retired_
      GUARDED_BY(mu_);
  std::atomic<uint64_t> attaches_{0}, detaches_{0}, refused_{0};
};

// Whether [address, address + count*4096) of process `pid` is a MAP_SHARED
// mapping of the file (`dev`, `inode`) at file offset `offset` (possibly
// split over several adjacent entries). The error says why not.
base::Status check_shared_mapping(pid_t pid, uint64_t address, uint64_t count, ino_t inode,
                                  uint64_t offset, dev_t dev);

}  // namespace dsm::client
