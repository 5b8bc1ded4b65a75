#include "node/membership.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include "base/thread_annotations.h"
#include "base/thread_name.h"

namespace node {

namespace {

using Clock = std::chrono::steady_clock;

uint64_t now_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
          .count());
}

}  // namespace

struct Membership::State {
  struct Peer {
    PeerStatus status;
    Clock::time_point heard;  // last heartbeat or ack from it
    bool heard_once = false;
    bool dead = false;  // declared dead (on_change(i, false)), not heard since
  };

  int self = 0;
  int tie_breaker = 0;  // the primary (else node 0): wins a split in halves
  uint64_t memory_given = 0;
  std::function<uint64_t()> local_memory_used;
  Membership::PeerChange on_change;  // set before the threads start
  Membership::Fenced on_fenced;

  mutable std::mutex mu;
  std::condition_variable cv;
  bool stopping GUARDED_BY(mu) = false;
  std::vector<Peer> peers GUARDED_BY(mu);

  // A sign of life from `from`; RTT when it answered our heartbeat.
  void heard(int from, uint64_t given, uint64_t used, double rtt_us) {
    bool came_up = false;
    {
      std::lock_guard lock(mu);
      if (stopping) return;
      Peer& p = peers[static_cast<size_t>(from)];
      p.heard = Clock::now();
      p.status.memory_given = given;
      p.status.memory_used = used;
      if (rtt_us > 0) p.status.rtt_us = rtt_us;
      p.heard_once = true;
      if (!p.status.up) {
        p.status.up = true;
        spdlog::info("node {} ({}) is up", p.status.name, p.status.address);
      }
      if (p.dead) {
        p.dead = false;
        came_up = true;
      }
    }
    if (came_up && on_change) on_change(from, true);
  }

  // The transport saw `from` authenticate as a new incarnation: whatever the
  // old one held is gone, even if it was never silent for kDeadAfter. A
  // death not yet reported is reported now, then the return; the
  // transport calls this before any message of the new incarnation is
  // handled.
  void restarted(int from) {
    if (from == self) {
      // A peer knew an earlier incarnation of this node: we are the
      // restart, and what the old one held died with it.
      if (on_change) on_change(from, false);
      return;
    }
    bool report_death = false;
    {
      std::lock_guard lock(mu);
      if (stopping) return;
      Peer& p = peers[static_cast<size_t>(from)];
      p.heard = Clock::now();  // alive: no death from check_silence now
      p.heard_once = true;
      report_death = !p.dead;
      p.dead = false;
      if (!p.status.up) {
        p.status.up = true;
        spdlog::info("node {} ({}) is up", p.status.name, p.status.address);
      }
      spdlog::info("node {} ({}) restarted: the copies it held are gone", p.status.name,
                   p.status.address);
    }
    if (!on_change) return;
    if (report_death) on_change(from, false);
    on_change(from, true);
  }
};

base::StatusOr<std::unique_ptr<Membership>> Membership::Create(
    const ClusterConfig& config, int self_index, rpc::Transport& transport,
    std::function<uint64_t()> local_memory_used, PeerChange on_change, Fenced on_fenced) {
  if (self_index < 0 || self_index >= static_cast<int>(config.nodes.size())) {
    return base::Error(
        "membership: node index " + std::to_string(self_index) + " is not in the config", EINVAL);
  }
  if (transport.size() != static_cast<int>(config.nodes.size()) || transport.self() != self_index) {
    return base::Error("membership: the transport was made for another cluster layout", EINVAL);
  }
  auto state = std::make_shared<State>();
  state->self = self_index;
  state->tie_breaker = config.primary() ? config.index_of(config.primary()->name) : 0;
  state->memory_given = config.nodes[static_cast<size_t>(self_index)].memory;
  state->local_memory_used =
      local_memory_used ? std::move(local_memory_used) : [] { return uint64_t{0}; };
  state->on_change = std::move(on_change);
  state->on_fenced = std::move(on_fenced);
  for (size_t i = 0; i < config.nodes.size(); ++i) {
    const NodeConfig& n = config.nodes[i];
    State::Peer p;
    p.status.name = n.name;
    p.status.address = n.host + ":" + std::to_string(n.port);
    p.status.self = static_cast<int>(i) == self_index;
    p.status.up = p.status.self;
    p.status.memory_given = n.memory;
    state->peers.push_back(p);
  }
  return std::unique_ptr<Membership>(new Membership(std::move(state), transport));
}

Membership::Membership(std::shared_ptr<State> state, rpc::Transport& transport)
    : state_(std::move(state)), transport_(transport) {
  // Answer heartbeats; the handler holds the state, not `this`.
  std::weak_ptr<State> weak = state_;
  rpc::Transport* t = &transport_;
  transport_.set_handler(rpc::BodyKind::HEARTBEAT, [weak, t](const rpc::Incoming& in) {
    auto state = weak.lock();
    if (!state) return;
    auto hb = in.header.getBody().getHeartbeat();
    state->heard(in.from, hb.getMemoryGiven(), hb.getMemoryUsed(), 0);
    if (in.header.getType() != rpc::schema::MessageType::REQUEST) return;
    rpc::OutMessage m;
    auto ack = m.header().initBody().initHeartbeatAck();
    ack.setMemoryGiven(state->memory_given);
    ack.setMemoryUsed(state->local_memory_used());
    ack.setSendTimeNs(hb.getSendTimeNs());
    (void)t->respond(in, m);
  });
  transport_.set_restart_observer([weak](rpc::NodeId peer, rpc::Transport::Incarnation what) {
    auto state = weak.lock();
    if (!state) return;
    using I = rpc::Transport::Incarnation;
    if (what == I::kPeerRestarted) state->restarted(peer);
    if (what == I::kSelfRestarted) state->restarted(state->self);
    if (what == I::kSelfDeclaredDead && state->on_fenced) state->on_fenced(peer);
  });
  thread_ = std::thread([this] {
    base::name_this_thread("pg-heartbeat");
    run();
  });
}

Membership::~Membership() {
  transport_.set_restart_observer(nullptr);
  transport_.set_handler(rpc::BodyKind::HEARTBEAT, nullptr);
  {
    std::lock_guard lock(state_->mu);
    state_->stopping = true;
  }
  state_->cv.notify_all();
  thread_.join();
}

void Membership::run() {
  auto next_beat = Clock::now();
  auto last_check = Clock::now();
  std::unique_lock lock(state_->mu);
  while (!state_->stopping) {
    const auto now = Clock::now();
    if (now >= next_beat) {
      next_beat = std::max(next_beat + kHeartbeatInterval, now);
      if (now - last_check > kDownAfter) {
        // This process itself stood still (stopped, starved): its peers'
        // silence is its own. Judge them from now on, not from before.
        spdlog::warn(
            "membership: this node stalled for {} ms; peers' silence counts from now",
            std::chrono::duration_cast<std::chrono::milliseconds>(now - last_check).count());
        for (State::Peer& p : state_->peers) p.heard = std::max(p.heard, now);
      }
      last_check = now;
      lock.unlock();
      send_heartbeats();
      check_silence();
      lock.lock();
      continue;
    }
    state_->cv.wait_until(lock, next_beat);
  }
}

void Membership::send_heartbeats() {
  uint64_t used = state_->local_memory_used();
  for (int i = 0; i < transport_.size(); ++i) {
    if (i == state_->self) continue;
    rpc::OutMessage m;
    auto hb = m.header().initBody().initHeartbeat();
    hb.setMemoryGiven(state_->memory_given);
    hb.setMemoryUsed(used);
    hb.setSendTimeNs(now_ns());
    std::weak_ptr<State> weak = state_;
    // A heartbeat that first waits for a handshake would time that too.
    bool measure = transport_.authenticated(i);
    // No retries: the next heartbeat is the retry.
    rpc::RequestOptions options{kDownAfter / 2, 0};
    transport_.request(
        i, m, nullptr, options, [weak, i, measure](base::StatusOr<const rpc::Incoming*> reply) {
          auto state = weak.lock();
          if (!state || !reply.ok()) return;
          auto ack = (*reply)->header.getBody();
          if (ack.which() != rpc::BodyKind::HEARTBEAT_ACK) return;
          auto a = ack.getHeartbeatAck();
          double rtt_us = measure ? static_cast<double>(now_ns() - a.getSendTimeNs()) / 1e3 : 0;
          state->heard(i, a.getMemoryGiven(), a.getMemoryUsed(), rtt_us);
        });
  }
}

void Membership::check_silence() {
  std::vector<int> went_down;
  auto now = Clock::now();
  {
    std::lock_guard lock(state_->mu);
    for (size_t i = 0; i < state_->peers.size(); ++i) {
      State::Peer& p = state_->peers[i];
      if (p.status.self || !p.status.up || now - p.heard < kDownAfter) continue;
      p.status.up = false;
      p.status.rtt_us = 0;
      went_down.push_back(static_cast<int>(i));
      auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(now - p.heard).count();
      spdlog::info("node {} ({}) is down: silent for {} ms", p.status.name, p.status.address,
                   silent);
    }
  }
  // Its return must be authenticated afresh.
  for (int i : went_down) transport_.forget_peer(i);
  if (!state_->on_change) return;
  std::vector<int> dead;
  {
    std::lock_guard lock(state_->mu);
    // Only a node that hears a majority (or half, with the tie-breaker) may
    // declare others dead: in a split, the smaller side must not fence the
    // larger one (each side sees the other silent).
    const size_t n = state_->peers.size();
    size_t live = 0;
    bool tie_live = false;
    for (size_t i = 0; i < n; ++i) {
      const State::Peer& p = state_->peers[i];
      const bool alive = p.status.self || (!p.dead && now - p.heard < kDeadAfter);
      live += alive ? 1 : 0;
      if (alive && static_cast<int>(i) == state_->tie_breaker) tie_live = true;
    }
    const bool quorum = 2 * live > n || (2 * live == n && tie_live);
    for (size_t i = 0; i < n && quorum; ++i) {
      State::Peer& p = state_->peers[i];
      if (p.status.self || !p.heard_once || p.dead || now - p.heard < kDeadAfter) continue;
      p.dead = true;
      dead.push_back(static_cast<int>(i));
      spdlog::info("node {} ({}) is dead: silent for {} ms", p.status.name, p.status.address,
                   kDeadAfter.count());
    }
  }
  for (int i : dead) {
    // Its incarnation never comes back (a stall that outlived kDeadAfter
    // must not rejoin holding copies everyone gave up); a restart does.
    transport_.declare_dead(i);
    state_->on_change(i, false);
  }
}

std::vector<PeerStatus> Membership::snapshot() const {
  std::vector<PeerStatus> out;
  {
    std::lock_guard lock(state_->mu);
    for (const State::Peer& p : state_->peers) out.push_back(p.status);
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i].self) {
      out[i].memory_given = state_->memory_given;
      out[i].memory_used = state_->local_memory_used();
    } else {
      out[i].rejected = transport_.peer_counters(static_cast<int>(i)).rejected();
    }
  }
  return out;
}

}  // namespace node
