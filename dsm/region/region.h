#pragma once
// dsm::Region: a DSM region whose 4 KiB frames are coherent across the nodes
// of a cluster. On each node a Region owns
//  - the coherence protocol (dsm/protocol, chosen by name),
//  - a FaultEngine (dsm/fault) over this node's cache memfd: the frames
//    valid here, every mapping registered with userfaultfd,
//  - the home copies of the frames this node is home of (a memfd of its own
//    or the node's page store; it spans every frame, since with first-touch
//    placement any frame may come to be homed here),
//  - a driver (region_driver.h) that feeds faults and coherence messages to
//    the protocol and carries out its actions over an rpc::Transport.
//
// Use:
//   auto region = TRY(dsm::Region::Create(config, transport));
//   dsm::FrameStore& frames = region->frame_store();   // the guest kernel's
//   std::byte* p = region->data();                     // research API, in-process
//   p[0] = std::byte{1};                               // coherent with every node
//
// Every node of the cluster creates the Region with the same frames,
// placement, weights and protocol (and region id), each with its own `self`;
// a Region only talks to the Regions of the same id on the other nodes.
// One Region per transport for now: it takes the transport's `coherence`
// handler (a per-region demultiplexer is a later step).
//
// Threads: see region_driver.h (the engine's handler pool and evictor, the
// transport's progress thread, one timer thread). Every public method may be
// called from any thread. Destruction: stop touching data() first.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "dsm/fault/fault_engine.h"
#include "dsm/frame_store.h"
#include "dsm/region/region_stats.h"
#include "rpc/transport.h"

namespace node {
struct ClusterConfig;
}

namespace dsm {

class Driver;
struct HomeMapping;

// A mapping of frames [first, first+count) of a region, with its own
// userfaultfd attached to the region's fault engine: what a guest stub or
// (later) an out-of-process client holds. Unmapped and detached on
// destruction, which must happen before the Region's.
class RegionMapping {
 public:
  ~RegionMapping();
  RegionMapping(const RegionMapping&) = delete;
  RegionMapping& operator=(const RegionMapping&) = delete;
  std::byte* data() const { return base_; }
  uint64_t first() const { return first_; }
  uint64_t count() const { return count_; }

 private:
  friend class Region;
  RegionMapping(FrameStore& store, int uffd, std::byte* base, uint64_t first, uint64_t count)
      : store_(store), uffd_(uffd), base_(base), first_(first), count_(count) {}
  FrameStore& store_;
  int uffd_;
  std::byte* base_;
  uint64_t first_, count_;
};

// placement "first-touch": homes are decided at run time, the first node to
// fault on a frame (dsm/PROTOCOLS.md "Placement"); stats().proto counts
// homes_won, describe() names each frame's home.
struct RegionConfig {
  uint16_t self = 0;                     // this node's index
  uint16_t node_count = 1;               // nodes of the cluster (the transport's size)
  uint64_t frames = 0;                   // 4 KiB frames in the region
  std::string placement = "interleave";  // interleave | range | first-touch
  std::vector<uint64_t> weights;         // memory each node gives; empty = equal
  std::string protocol = "msi-home";     // msi-home | ivy-dynamic
  uint32_t region_id = 0;                // the same on every node

  // This node's cache: at most budget_frames resident (0 = no budget).
  uint64_t budget_frames = 0;
  uint32_t read_ahead_max = 64;  // 0 disables read-ahead
  int handler_threads = 2;
  // How long the protocol waits for an answer before it retries: at least
  // retry_interval; more when a peer's answers take longer (an RTT estimate
  // per peer) and, doubling, each time the same request went unanswered;
  // never more than retry_max (dsm/region/retry_timing.h).
  std::chrono::milliseconds retry_interval{20};
  std::chrono::milliseconds retry_max{1000};

  // Home copies: a memfd of at least (home_offset + frames * 4096) bytes,
  // e.g. node::PageStore::fd(); -1 = the Region creates its own (sparse).
  int home_fd = -1;
  uint64_t home_offset = 0;
};

// The settings a node daemon takes from cluster.toml: node `self` of
// `config`, `frames` frames, weights = each node's memory.
RegionConfig region_config_from(const node::ClusterConfig& config, int self, uint64_t frames);

class Region {
 public:
  // `transport` must outlive the Region; its size() must be config.node_count
  // and its self() config.self.
  static base::StatusOr<std::unique_ptr<Region>> Create(const RegionConfig& config,
                                                        rpc::Transport& transport);
  ~Region();
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;

  const RegionConfig& config() const { return config_; }
  uint64_t frames() const { return config_.frames; }
  uint64_t size_bytes() const { return config_.frames * 4096; }

  // For the guest kernel: the cache memfd, make_present, attach/detach of
  // guest mappings (their faults become coherence requests).
  FrameStore& frame_store();
  // The engine itself (the protocol's side, stats), for tests and tools.
  FaultEngine& engine() { return *engine_; }

  // Research API, in-process: the engine's own mapping of the whole region.
  // Plain loads and stores (and atomics: a locked RMW faults for write) are
  // coherent with every other node's.
  std::byte* data() const { return engine_->base(); }
  // Another mapping of frames [first, first+count), served through its own
  // userfaultfd (FrameStore::attach), as a second process would see them.
  base::StatusOr<std::unique_ptr<RegionMapping>> map(uint64_t first, uint64_t count);

  // Membership (the node daemon, or a test): node `node` died, with every
  // copy it held. Waits on it end; frames whose only copy it held are lost:
  // an access to one on this node gets SIGBUS (dsm/PROTOCOLS.md "Node
  // failure"). Idempotent. node_up: it came back as a new incarnation, an
  // empty node; call node_down first if its death was not seen.
  void node_down(uint16_t node);
  void node_up(uint16_t node);
  // What the region held is void (the guest's primary restarted: a new
  // guest): every cached copy here is dropped, the home copies here are
  // zeroed, fetches still waiting fail (ECANCELED), and a new protocol
  // starts as at Create (its counters from zero), with every node up.
  void reset();

  RegionStats stats() const;
  // One line of what the protocol knows about `frame`.
  std::string describe(uint64_t frame) const;

 private:
  explicit Region(const RegionConfig& config);
  static base::StatusOr<std::unique_ptr<protocol::Protocol>> make_protocol(
      const RegionConfig& config);

  RegionConfig config_;
  std::unique_ptr<HomeMapping> home_;
  std::unique_ptr<Driver> driver_;
  std::unique_ptr<FaultEngine> engine_;
};

}  // namespace dsm
