#include "node/daemon.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <thread>

#include "base/bytes.h"
#include "dsm/client/attach_service.h"
#include "dsm/protocol/placement.h"
#include "dsm/region/region.h"
#include "node/membership.h"
#include "node/region_counters.h"
#include "rpc/control/server.h"
#include "rpc/fabric_transport.h"

namespace node {
namespace {

sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

void add_transport_counters(std::vector<rpc::control::Counter>& out, const std::string& group,
                            const rpc::Counters& c) {
  auto add = [&](const char* name, uint64_t v) { out.push_back({group, name, v}); };
  add("sent", c.sent);
  add("received", c.received);
  add("rejected", c.rejected());
  add("rejected_malformed", c.rejected_malformed);
  add("rejected_unauthenticated", c.rejected_unauthenticated);
  add("rejected_stale", c.rejected_stale);
  add("auth_failures", c.auth_failures);
  add("unexpected", c.unexpected);
  add("send_errors", c.send_errors);
  add("queue_drops", c.queue_drops);
  add("restarts", c.restarts);
  add("timeouts", c.timeouts);
  add("retries", c.retries);
  add("page_copies", c.page_copies);
}

}  // namespace

base::Status Daemon::block_stop_signals() {
  sigset_t set = stop_signals();
  int err = pthread_sigmask(SIG_BLOCK, &set, nullptr);
  if (err != 0) return base::Error::from_errno("pthread_sigmask", err);
  return {};
}

Daemon::Daemon(const ClusterConfig& config, int self) : config_(config), self_(self) {}

Daemon::~Daemon() {
  // Explicit order: nothing may call into a part that is already gone.
  control_.reset();
  attach_.reset();
  membership_.reset();
  region_.reset();
  transport_.reset();
  store_.reset();
}

base::StatusOr<std::unique_ptr<Daemon>> Daemon::Create(const ClusterConfig& config,
                                                       const std::string& name) {
  int self = config.index_of(name);
  if (self < 0) {
    std::string names;
    for (const auto& n : config.nodes) names += (names.empty() ? "" : ", ") + n.name;
    return base::Error(
        fmt::format("{}: no node named \"{}\" (nodes: {})", config.source, name, names), EINVAL);
  }
  std::unique_ptr<Daemon> d(new Daemon(config, self));
  const NodeConfig& me = config.nodes[static_cast<size_t>(self)];

  d->stop_event_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!d->stop_event_.valid()) return base::Error::from_errno("eventfd");
  sigset_t set = stop_signals();
  d->signals_.reset(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!d->signals_.valid()) return base::Error::from_errno("signalfd");

  d->store_ = TRY(PageStore::Create(me.memory, me.name));
  d->transport_ = TRY(rpc::FabricTransport::Create(config, self));
  TRY(d->transport_->register_memory(d->store_->page(0).data(), d->store_->size()));

  // The guest's RAM: every node makes the same region from the same config.
  const uint64_t frames = config.guest.memory / base::kPageSize;
  dsm::RegionConfig rc = dsm::region_config_from(config, self, frames);
  rc.home_fd = d->store_->fd();
  rc.home_offset = TRY(d->store_->add_home_span(frames * base::kPageSize));
  // A node never caches more than it gives (docs/spread.md "Budget"): the
  // primary's cache is the guest's working set; the others cache only what
  // local dsm clients touch. Home copies live in the page store, outside it.
  rc.budget_frames = cache_budget_frames(me, frames);
  d->region_ = TRY(dsm::Region::Create(rc, *d->transport_));
  auto placement = TRY(dsm::protocol::make_placement(rc.placement, rc.weights, frames));
  // first-touch: none at start; the region counts the frames it wins (homes_won).
  for (uint64_t f = 0; f < frames && !placement->homes_by_claim(); ++f)
    d->frames_homed_ += placement->home_of(f) == self ? 1 : 0;

  PageStore* store = d->store_.get();
  // Used = host memory the store holds: written pages and home copies.
  // A peer membership declares dead takes its copies with it: the region
  // stops waiting for it and marks what died with it lost (SIGBUS on
  // access); one that comes back is a new, empty node (dsm/PROTOCOLS.md
  // "Node failure"). Membership declares death after Membership::kDeadAfter
  // of silence, not at the first missed second, or at once when the peer
  // restarted. The guest lives on the primary: a new primary is a new guest,
  // so the region starts empty everywhere (docs/spread.md "A second boot").
  dsm::Region* region = d->region_.get();
  const int primary = config.primary() ? config.index_of(config.primary()->name) : -1;
  d->membership_ = TRY(Membership::Create(
      config, self, *d->transport_, [store] { return store->resident_bytes(); },
      [region, self, primary](int node, bool up) {
        if (node == self) {
          // This process restarted while its cluster ran. A restarted
          // primary starts a new guest (the others empty the region); any
          // other node homes nothing from now on (its frames died with it).
          if (self == primary) return;
          spdlog::warn("guest region: this node restarted: the frames it homed are lost");
          region->node_down(static_cast<uint16_t>(node));
        } else if (up && node == primary) {
          spdlog::info("guest region: a new primary, a new guest: the region starts empty");
          region->reset();
        } else if (up) {
          region->node_up(static_cast<uint16_t>(node));
        } else {
          spdlog::warn("guest region: node {} is down: frames only it held are lost", node);
          region->node_down(static_cast<uint16_t>(node));
        }
      },
      [daemon = d.get()](int by) {
        // Our peers gave up what we hold: going on would serve stale copies
        // (dsm/PROTOCOLS.md "A node declared dead that was not"). Stop; a
        // restart rejoins.
        int none = -1;
        if (daemon->fenced_by_.compare_exchange_strong(none, by)) daemon->request_shutdown();
      }));
  // Before local processes may attach, give the peers a moment to say
  // whether this process is a restart (their first handshake does): a
  // restarted node must not serve the frames it homed, even to its first
  // client. Peers that are down do not hold the node up for long.
  (void)d->wait_for_peers(Membership::kDownAfter);
  // Local processes may attach the guest region (dsm/client).
  Daemon* self_ptr = d.get();
  d->attach_ = std::make_unique<dsm::client::AttachService>(
      me.name, std::vector<dsm::client::ServedRegion>{
                   {"guest", &d->region_->frame_store(), rc.protocol, [self_ptr] {
                      rpc::control::StatsInfo st;
                      add_region_counters(st.counters, self_ptr->region_->stats(),
                                          self_ptr->frames_homed_,
                                          self_ptr->region_->config().budget_frames);
                      return st;
                    }}});
  d->control_ = TRY(rpc::control::ControlServer::Create(me.control, *d, d->attach_.get()));
  spdlog::info(
      "node {} of cluster {} up: data {}:{}, control {}, {} contributed; guest region {} frames "
      "({} homed here, cache budget {} frames, 0 = none), protocol {}, placement {}",
      me.name, config.name, me.host, me.port, me.control, me.memory, frames, d->frames_homed_,
      rc.budget_frames, rc.protocol, rc.placement);
  return d;
}

base::Status Daemon::run() {
  pollfd fds[2] = {{signals_.get(), POLLIN, 0}, {stop_event_.get(), POLLIN, 0}};
  for (;;) {
    int n = poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return base::Error::from_errno("poll");
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo info;
      if (read(signals_.get(), &info, sizeof(info)) == sizeof(info)) {
        spdlog::info("node {}: signal {}, stopping", config_.nodes[static_cast<size_t>(self_)].name,
                     strsignal(static_cast<int>(info.ssi_signo)));
        return {};
      }
    }
    if (fds[1].revents & POLLIN) {
      if (int by = fenced_by_.load(); by >= 0) {
        return base::Error(
            fmt::format("node {} declared this process dead (it was silent for longer than {} "
                        "ms) and gave up the copies it held; it cannot rejoin as this process: "
                        "start it again",
                        config_.nodes[static_cast<size_t>(by)].name,
                        Membership::kDeadAfter.count()),
            ESTALE);
      }
      spdlog::info("node {}: shutdown requested over the control plane, stopping",
                   config_.nodes[static_cast<size_t>(self_)].name);
      return {};
    }
  }
}

base::Status Daemon::wait_for_peers(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::string missing;
    for (const PeerStatus& p : membership_->snapshot()) {
      if (!p.self && !p.up)
        missing += (missing.empty() ? "" : ", ") + p.name + " (" + p.address + ")";
    }
    if (missing.empty()) return {};
    if (std::chrono::steady_clock::now() >= deadline) {
      return base::Error(fmt::format("{}: nodes not up after {:.0f} s: {}; start them with "
                                     "`pangaea node --config {} --name NAME`",
                                     config_.source, std::chrono::duration<double>(timeout).count(),
                                     missing, config_.source),
                         ETIMEDOUT);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void Daemon::request_shutdown() {
  uint64_t one = 1;
  // A full counter means a stop is already pending; nothing to do then.
  [[maybe_unused]] ssize_t n = write(stop_event_.get(), &one, sizeof(one));
}

rpc::control::NodeStatusInfo Daemon::status() {
  rpc::control::NodeStatusInfo s;
  const NodeConfig& me = config_.nodes[static_cast<size_t>(self_)];
  s.cluster = config_.name;
  s.name = me.name;
  s.pid = static_cast<uint32_t>(getpid());
  s.uptime_ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now() - started_)
                                          .count());
  s.memory_given = store_->size();
  s.memory_used = store_->resident_bytes();
  for (const PeerStatus& p : membership_->snapshot()) {
    s.peers.push_back({p.name, p.address, p.self, p.up, static_cast<uint64_t>(p.rtt_us + 0.5),
                       p.memory_given, p.memory_used, p.rejected});
  }
  return s;
}

rpc::control::StatsInfo Daemon::stats() {
  rpc::control::StatsInfo st;
  auto& out = st.counters;
  uint64_t uptime_ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                 std::chrono::steady_clock::now() - started_)
                                                 .count());
  out.push_back({"node", "uptime_ms", uptime_ms});
  out.push_back({"node", "memory_given", store_->size()});
  out.push_back({"node", "memory_used", store_->resident_bytes()});
  out.push_back({"node", "pages_total", store_->page_count()});
  out.push_back({"node", "pages_used", store_->used() / base::kPageSize});
  auto peers = membership_->snapshot();
  uint64_t up = 0;
  for (const PeerStatus& p : peers) up += (!p.self && p.up) ? 1 : 0;
  out.push_back({"membership", "peers", peers.empty() ? 0 : peers.size() - 1});
  out.push_back({"membership", "peers_up", up});
  add_transport_counters(out, "transport", transport_->counters());
  add_region_counters(out, region_->stats(), frames_homed_, region_->config().budget_frames);
  attach_->add_counters(out);
  for (size_t i = 0; i < peers.size(); ++i) {
    const PeerStatus& p = peers[i];
    if (p.self) continue;
    std::string group = "peer:" + p.name;
    out.push_back({group, "up", p.up ? 1u : 0u});
    out.push_back({group, "rtt_us", static_cast<uint64_t>(p.rtt_us + 0.5)});
    add_transport_counters(out, group, transport_->peer_counters(config_.index_of(p.name)));
  }
  return st;
}

}  // namespace node
