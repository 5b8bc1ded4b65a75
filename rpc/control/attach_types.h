#pragma once
// What the attach socket carries (rpc/schema/control.capnp, interface Attach;
// CONTROL.md, "Attach"), as plain C++ values, and the interface a node
// implements to let local processes map its DSM regions (dsm/client).
//
// Threads: RegionService calls arrive on the control server's thread, one at
// a time; detach() may also arrive from the destructor of the ControlServer
// (its thread, before it is joined).

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"
#include "rpc/control/control_types.h"

namespace rpc::control {

// Who is on the other end of an attach connection (SO_PEERCRED).
struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

struct RegionInfo {
  std::string name;
  uint64_t frames = 0;
  uint32_t frame_size = 4096;
  std::string protocol;
  std::string node;  // the serving node
};

class RegionService {
 public:
  virtual ~RegionService() = default;

  // The region named `name` for `peer`, and its frame memfd in *memfd
  // (borrowed: valid while the service lives; the server sends a copy).
  virtual base::StatusOr<RegionInfo> open_region(const std::string& name,
                                                 const PeerCredentials& peer, int* memfd) = 0;
  // Takes `uffd` (the peer's fresh userfaultfd) for the peer's mapping of
  // frames [first, first+count) of region `name` at `address`, and serves its
  // faults from then on. Returns an id for detach().
  virtual base::StatusOr<uint64_t> attach(const std::string& name, const PeerCredentials& peer,
                                          base::UniqueFd uffd, uint64_t address, uint64_t first,
                                          uint64_t count) = 0;
  // Stops serving attachment `id` and closes its userfaultfd. Unknown ids
  // are ignored.
  virtual void detach(uint64_t id) = 0;
  // The counters of region `name` (empty if there is none).
  virtual StatsInfo region_stats(const std::string& name) = 0;
};

// The attach socket of the node whose control address is `control`:
//  - "unix:/dir/name"  -> "/dir/name.attach"
//  - "host:port"       -> "/tmp/pangaea-attach-<host>-<port>.sock"
// Unique per node on a machine because the control address is (its port or
// path is bound while the node runs), and the same whoever computes it. In
// the sticky /tmp nobody else can remove or replace a node's socket; a
// client checks that the socket belongs to itself or root before trusting
// it (dsm/client).
std::string attach_socket_path(const std::string& control);

}  // namespace rpc::control
