#include "dsm/region/region.h"

#include <sys/mman.h>
#include <unistd.h>

#include "base/bytes.h"
#include "base/unique_fd.h"
#include "dsm/fault/uffd.h"
#include "dsm/protocol/placement.h"
#include "dsm/region/region_driver.h"
#include "node/config.h"

namespace dsm {

namespace {
constexpr uint64_t kPage = base::kPageSize;
}  // namespace

// The home copies (msi-home): this node's copy of the frames it is home of,
// apart from the cache memfd, whose copy may be dropped while the home's
// must stay. Sparse: only frames homed here and written ever take memory.
struct HomeMapping {
  base::UniqueFd own_fd;
  std::byte* base = nullptr;
  uint64_t len = 0;
  ~HomeMapping() {
    if (base != nullptr) ::munmap(base, len);
  }
};

namespace {
base::StatusOr<std::unique_ptr<HomeMapping>> map_home(const RegionConfig& c) {
  auto h = std::make_unique<HomeMapping>();
  int fd = c.home_fd;
  const uint64_t len = c.frames * kPage;
  if (fd < 0) {
    h->own_fd.reset(::memfd_create("pangaea-home", MFD_CLOEXEC));
    if (!h->own_fd.valid()) return base::Error::from_errno("memfd_create(home)");
    if (::ftruncate(h->own_fd.get(), static_cast<off_t>(len)) != 0) {
      return base::Error::from_errno("ftruncate(home)");
    }
    fd = h->own_fd.get();
  }
  if (c.home_offset % kPage != 0) return base::Error("home_offset not page-aligned", EINVAL);
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                   static_cast<off_t>(c.home_offset));
  if (p == MAP_FAILED) return base::Error::from_errno("mmap(home copies)");
  h->base = static_cast<std::byte*>(p);
  h->len = len;
  return h;
}
}  // namespace

RegionConfig region_config_from(const node::ClusterConfig& config, int self, uint64_t frames) {
  RegionConfig r;
  r.self = static_cast<uint16_t>(self);
  r.node_count = static_cast<uint16_t>(config.nodes.size());
  r.frames = frames;
  r.placement = std::string(node::to_string(config.placement));
  r.protocol = config.protocol;
  for (const node::NodeConfig& n : config.nodes) r.weights.push_back(n.memory);
  return r;
}

base::StatusOr<std::unique_ptr<Region>> Region::Create(const RegionConfig& config,
                                                       rpc::Transport& transport) {
  if (config.frames == 0) return base::Error("region: zero frames", EINVAL);
  if (config.node_count == 0 || config.self >= config.node_count) {
    return base::Error("region: self outside the cluster", EINVAL);
  }
  if (transport.size() != config.node_count || transport.self() != config.self) {
    return base::Error("region: the transport's nodes do not match the config", EINVAL);
  }
  auto proto = TRY(make_protocol(config));

  std::unique_ptr<Region> region(new Region(config));
  region->home_ = TRY(map_home(config));
  region->driver_ =
      std::make_unique<Driver>(config, std::move(proto), transport, region->home_->base);
  FaultEngineOptions eo;
  eo.frames = config.frames;
  eo.budget_frames = config.budget_frames;
  eo.read_ahead_max = config.read_ahead_max;
  eo.handler_threads = config.handler_threads;
  region->engine_ = TRY(FaultEngine::Create(eo, region->driver_.get()));
  region->driver_->start(region->engine_.get());
  return region;
}

base::StatusOr<std::unique_ptr<protocol::Protocol>> Region::make_protocol(
    const RegionConfig& config) {
  std::vector<uint64_t> weights = config.weights;
  if (weights.empty()) weights.assign(config.node_count, 1);
  if (weights.size() != config.node_count) {
    return base::Error("region: one weight per node needed", EINVAL);
  }
  std::shared_ptr<const protocol::Placement> placement =
      TRY(protocol::make_placement(config.placement, weights, config.frames));
  protocol::ProtocolConfig pc;
  pc.self = config.self;
  pc.node_count = config.node_count;
  pc.frame_count = config.frames;
  pc.placement = placement;
  return protocol::make_protocol(config.protocol, pc);
}

Region::Region(const RegionConfig& config) : config_(config) {}

Region::~Region() {
  // Fail what still waits, so the engine's destructor finds nothing in flight.
  if (driver_) driver_->close();
  engine_.reset();
  driver_.reset();
}

FrameStore& Region::frame_store() { return *engine_; }

base::StatusOr<std::unique_ptr<RegionMapping>> Region::map(uint64_t first, uint64_t count) {
  if (count == 0 || first >= config_.frames || count > config_.frames - first) {
    return base::Error("map: frames outside the region", EINVAL);
  }
  base::UniqueFd uffd = TRY(uffd::open(uffd::kShmemFeatures));
  void* p = ::mmap(nullptr, count * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, engine_->memfd(),
                   static_cast<off_t>(first * kPage));
  if (p == MAP_FAILED) return base::Error::from_errno("mmap(region)");
  if (auto st = engine_->attach(uffd.get(), reinterpret_cast<uint64_t>(p), first, count);
      !st.ok()) {
    ::munmap(p, count * kPage);
    return st.error();
  }
  return std::unique_ptr<RegionMapping>(
      new RegionMapping(*engine_, uffd.release(), static_cast<std::byte*>(p), first, count));
}

RegionMapping::~RegionMapping() {
  store_.detach(uffd_, reinterpret_cast<uint64_t>(base_), count_);
  ::munmap(base_, count_ * kPage);
  ::close(uffd_);
}

void Region::node_down(uint16_t node) { driver_->node_down(node); }
void Region::node_up(uint16_t node) { driver_->node_up(node); }

void Region::reset() {
  // Made by Create from the same config, so it cannot fail here.
  auto fresh = make_protocol(config_);
  if (fresh.ok()) driver_->reset(std::move(fresh).value());
}

RegionStats Region::stats() const {
  RegionStats s;
  s.protocol = config_.protocol;
  s.self = config_.self;
  s.frames = config_.frames;
  s.proto = driver_->protocol_stats();
  s.engine = engine_->stats();
  s.driver = driver_->counters();
  return s;
}

std::string Region::describe(uint64_t frame) const { return driver_->describe(frame); }

}  // namespace dsm
