#pragma once
// The DSM research API for any process on a node: map a region the local
// node serves, coherent with every other node's copy. docs/dsm-research.md
// has an example; the node's side is attach_service.h; the socket protocol
// is rpc/control/CONTROL.md, "Attach".
//
//   auto r = TRY(dsm::client::attach("127.0.0.1:7701"));   // the node's control address
//   auto* words = reinterpret_cast<uint64_t*>(r->data());
//   std::atomic_ref<uint64_t>(words[512]).fetch_add(1);     // a coherent write
//   auto stats = TRY(r->stats());                           // the region's counters
//
// attach() connects to the node's attach socket (a unix socket, only for the
// node's uid and root), receives the region's memfd over SCM_RIGHTS, maps it
// MAP_SHARED (MADV_DONTFORK: children do not inherit it), creates a
// userfaultfd and sends it to the node, which registers the mapping (MISSING
// | WP) and from then on serves this process's faults through its DSM: a
// read of a frame not valid on the node fetches it, a write upgrades it,
// and other nodes' writes invalidate it. The memory is only valid while the
// node runs; if it stops, connected() turns false and the mapping must not
// be used any more.
//
// Threads: a Region runs one thread of its own (the RPC connection's event
// loop). Its methods may be called from any thread; data() may be used from
// all of them at once. Destroy it only once no thread touches data().

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "base/result.h"
#include "rpc/control/attach_types.h"
#include "rpc/control/control_types.h"

namespace dsm::client {

struct Options {
  // Frames to map: [first, first + count) of the region; count 0 = to the end.
  uint64_t first = 0;
  uint64_t count = 0;
  // For each exchange with the node.
  std::chrono::milliseconds timeout{5000};
};

class Region {
 public:
  // Unmaps, then detaches (waiting for the node's answer) and disconnects.
  ~Region();
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;

  // The mapping of frames [first(), first() + frames()).
  std::byte* data() const { return data_; }
  uint64_t size() const { return frames_ * info_.frame_size; }
  uint64_t first() const { return first_; }
  uint64_t frames() const { return frames_; }
  // Name, frames in the whole region, protocol, serving node.
  const rpc::control::RegionInfo& info() const { return info_; }

  // The region's counters on the serving node (group "region", as in
  // `pangaea stats`), asked over this connection.
  base::StatusOr<rpc::control::StatsInfo> stats();
  // The node's own counters and status (Control.stats/status).
  base::StatusOr<rpc::control::StatsInfo> node_stats();
  base::StatusOr<rpc::control::NodeStatusInfo> node_status();
  // False once the node closed the connection (it stopped or died).
  bool connected() const;

 private:
  class Session;
  friend base::StatusOr<std::unique_ptr<Region>> attach(const std::string&, const std::string&,
                                                        const Options&);
  explicit Region(std::unique_ptr<Session> session);

  std::unique_ptr<Session> session_;
  rpc::control::RegionInfo info_;
  std::byte* data_ = nullptr;
  uint64_t first_ = 0, frames_ = 0;
};

// Attaches region `name` ("guest": the guest-RAM region every node serves)
// of the node at `where`: its control address as in cluster.toml
// ("host:port" or "unix:/path"), whose attach socket is
// rpc::control::attach_socket_path(where), or the attach socket's own path
// ("/..."). Errors name the socket and what went wrong: ENOENT (no such
// socket or region), EACCES (not the node's user), EINVAL (bad range), ...
base::StatusOr<std::unique_ptr<Region>> attach(const std::string& where,
                                               const std::string& name = "guest",
                                               const Options& options = {});

}  // namespace dsm::client
