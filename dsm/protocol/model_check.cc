#include "dsm/protocol/model_check.h"

#include <algorithm>
#include <bit>

#include <fmt/format.h>

namespace dsm::protocol::sim {
namespace {

constexpr size_t kTraceLength = 40;

std::string describe(const Message& m) {
  return fmt::format("{} f{} {}->{} req={}/{} v{} page={} copy={} cs={:#x}", to_string(m.type),
                     m.frame, m.from, m.to, m.requester == kNoNode ? -1 : int(m.requester), m.req,
                     m.version, m.has_page, m.has_copy, m.copyset);
}

}  // namespace

base::StatusOr<std::unique_ptr<Simulator>> Simulator::Create(const SimOptions& options) {
  if (options.nodes == 0 || options.nodes > kMaxNodes || options.frames == 0) {
    return base::Error("sim: bad size", EINVAL);
  }
  std::unique_ptr<Simulator> s(new Simulator(options));
  std::vector<uint64_t> weights(options.nodes, 1);
  s->placement_ = std::shared_ptr<const Placement>(
      TRY(make_placement(options.placement, weights, options.frames)));
  for (NodeId n = 0; n < options.nodes; ++n) {
    ProtocolConfig cfg;
    cfg.self = n;
    cfg.node_count = options.nodes;
    cfg.frame_count = options.frames;
    cfg.placement = s->placement_;
    cfg.first_version = options.first_version;
    Node node;
    node.proto = TRY(make_protocol(options.protocol, cfg));
    node.cache.assign(options.frames, 0);
    node.map.assign(options.frames, Access::kNone);
    node.home.assign(options.frames, 0);
    node.read_waiters.assign(options.frames, 0);
    node.write_waiters.assign(options.frames, 0);
    node.timer.assign(options.frames, 0);
    s->nodes_.push_back(std::move(node));
  }
  s->latest_.assign(options.frames, 0);
  s->touched_.assign(options.frames, 0);
  return s;
}

void Simulator::trace(std::string event) {
  trace_.push_back(std::move(event));
  if (trace_.size() > kTraceLength) trace_.pop_front();
}

base::Error Simulator::fail(const std::string& what) const {
  std::string msg = fmt::format("{} (protocol {}, seed {}, step {})\nlast events:\n", what,
                                opt_.protocol, opt_.seed, counters_.steps);
  for (const std::string& e : trace_) msg += "  " + e + "\n";
  msg += fmt::format("state (dead nodes {:#x}, placement {}):\n", dead_, opt_.placement);
  for (FrameId f = 0; f < opt_.frames && f < 8; ++f) {
    for (NodeId n = 0; n < nodes_.size(); ++n) {
      msg += fmt::format("  f{} n{}: {}{} | map={} val={}\n", f, n, nodes_[n].proto->describe(f),
                         nodes_[n].proto->view(f).lost ? " LOST" : "",
                         to_string(nodes_[n].map[f]), nodes_[n].cache[f]);
    }
  }
  return base::Error(msg, EPROTO);
}

ProtocolStats Simulator::total_stats() const {
  ProtocolStats t;
  for (const Node& n : nodes_) {
    const ProtocolStats& s = n.proto->stats();
    for (size_t i = 0; i < t.sent.size(); ++i) {
      t.sent[i] += s.sent[i];
      t.received[i] += s.received[i];
    }
    t.rejected += s.rejected;
    t.stale += s.stale;
    t.faults += s.faults;
    t.coalesced += s.coalesced;
    t.retries += s.retries;
    t.invalidations += s.invalidations;
    t.evictions += s.evictions;
    t.forwards += s.forwards;
    t.queued += s.queued;
    t.claims += s.claims;
    t.homes_won += s.homes_won;
    t.claims_decided += s.claims_decided;
    t.redirects += s.redirects;
  }
  return t;
}

// ---------------------------------------------------------------------------
// Carrying out actions.

base::Status Simulator::apply(NodeId n, const Actions& actions, const InFlight* incoming) {
  Node& node = nodes_[n];
  auto value_of = [&](PageSource src, FrameId f, uint64_t* v) -> base::Status {
    switch (src) {
      case PageSource::kIncoming:
        if (!incoming || !incoming->msg.has_page) return fail("page from a message without one");
        *v = incoming->value;
        return {};
      case PageSource::kCache:
        if (node.map[f] == Access::kNone) {
          return fail(fmt::format("node {} uses its copy of f{} but has none", n, f));
        }
        *v = node.cache[f];
        return {};
      case PageSource::kHome:
        if (node.proto->home_of(f) != n) {
          return fail(fmt::format("node {} uses a home copy of f{} it is not home of", n, f));
        }
        *v = node.home[f];
        return {};
      case PageSource::kZero:
        *v = 0;
        return {};
      case PageSource::kNone:
        return fail("no page source");
    }
    return {};
  };
  for (const Action& a : actions) {
    FrameId f = a.frame;
    switch (a.type) {
      case ActionType::kSend: {
        if (a.msg.to == n) return fail("a Send to self escaped the protocol");
        InFlight m{a.msg, 0};
        if (a.msg.has_page) TRY(value_of(a.page, f, &m.value));
        trace(fmt::format("n{} send {} val={}", n, describe(a.msg), m.value));
        net_.push_back(m);
        ++counters_.sent;
        counters_.sent_pages += a.msg.has_page;
        break;
      }
      case ActionType::kInstall: {
        if (a.access == Access::kNone) return fail("install without access");
        uint64_t v = node.cache[f];
        TRY(value_of(a.page, f, &v));
        // Checked here, not only between steps: a write fault installs and
        // writes in one step, and the write would hide stale bytes that a
        // real page keeps (the bytes the write does not touch).
        if (v != latest_[f]) {
          return fail(fmt::format("n{} installs f{} = {} ({}), last write was {}", n, f, v,
                                  to_string(a.access), latest_[f]));
        }
        node.cache[f] = v;
        node.map[f] = a.access;
        trace(fmt::format("n{} install f{} {} val={}", n, f, to_string(a.access), v));
        break;
      }
      case ActionType::kWriteProtect:
        if (node.map[f] == Access::kNone)
          return fail(fmt::format("n{} write-protects absent f{}", n, f));
        node.map[f] = Access::kRead;
        trace(fmt::format("n{} wp f{}", n, f));
        break;
      case ActionType::kDrop:
        node.map[f] = Access::kNone;
        trace(fmt::format("n{} drop f{}", n, f));
        break;
      case ActionType::kStore: {
        if (node.proto->home_of(f) != n)
          return fail(fmt::format("n{} stores f{} not homed here", n, f));
        uint64_t v = 0;
        TRY(value_of(a.page, f, &v));
        node.home[f] = v;
        trace(fmt::format("n{} store f{} val={}", n, f, v));
        break;
      }
      case ActionType::kComplete:
        TRY(complete(n, f, a.access));
        break;
      case ActionType::kArmTimer:
        node.timer[f] = 1;
        break;
      case ActionType::kFail:
        // A lost frame: nothing of it may stay readable here, and its
        // waiting faults end (failed, never served stale data).
        if (node.map[f] != Access::kNone) {
          return fail(fmt::format("n{} fails f{} but still maps it", n, f));
        }
        trace(fmt::format("n{} fail f{}", n, f));
        node.read_waiters[f] = node.write_waiters[f] = 0;
        ++counters_.failed;
        break;
    }
  }
  return {};
}

base::Status Simulator::complete(NodeId n, FrameId f, Access a) {
  Node& node = nodes_[n];
  trace(fmt::format("n{} complete f{} {}", n, f, to_string(a)));
  if (node.map[f] < a) {
    return fail(fmt::format("n{} completes {} on f{} but its mapping allows {}", n, to_string(a), f,
                            to_string(node.map[f])));
  }
  for (; node.read_waiters[f] > 0; --node.read_waiters[f]) {
    if (node.cache[f] != latest_[f]) {
      return fail(
          fmt::format("n{} read f{} = {}, last write was {}", n, f, node.cache[f], latest_[f]));
    }
    ++counters_.reads;
  }
  if (a == Access::kWrite) {
    for (; node.write_waiters[f] > 0; --node.write_waiters[f]) {
      node.cache[f] = latest_[f] = next_value_++;
      ++counters_.writes;
    }
  }
  return {};
}

// ---------------------------------------------------------------------------
// Events.

base::Status Simulator::access(NodeId n, FrameId f, Access a) {
  Node& node = nodes_[n];
  if (node.map[f] >= a) {  // no fault: the access happens now
    if (a == Access::kWrite) {
      node.cache[f] = latest_[f] = next_value_++;
      ++counters_.writes;
      trace(fmt::format("n{} write f{} = {}", n, f, node.cache[f]));
    } else {
      if (node.cache[f] != latest_[f]) {
        return fail(
            fmt::format("n{} read f{} = {}, last write was {}", n, f, node.cache[f], latest_[f]));
      }
      ++counters_.reads;
    }
    return {};
  }
  (a == Access::kWrite ? node.write_waiters : node.read_waiters)[f]++;
  touched_[f] |= node_bit(n);
  trace(fmt::format("n{} fault f{} {}", n, f, to_string(a)));
  Actions out;
  node.proto->on_fault(f, a, &out);
  return apply(n, out, nullptr);
}

base::Status Simulator::evict(NodeId n, FrameId f) {
  Node& node = nodes_[n];
  Actions out;
  base::Status st = node.proto->on_evict(f, &out);
  if (!st.ok()) {
    if (!out.empty()) return fail("a refused eviction emitted actions");
    return {};
  }
  trace(fmt::format("n{} evict f{}", n, f));
  ++counters_.evictions;
  TRY(apply(n, out, nullptr));
  // An accepted eviction never leaves the copy writable.
  if (node.map[f] == Access::kWrite)
    return fail(fmt::format("n{} evicted f{} but can write it", n, f));
  return {};
}

base::Status Simulator::kill(NodeId k) {
  trace(fmt::format("n{} KILLED", k));
  dead_ |= node_bit(k);
  ++counters_.deaths;
  Node& node = nodes_[k];
  std::fill(node.map.begin(), node.map.end(), Access::kNone);
  std::fill(node.read_waiters.begin(), node.read_waiters.end(), 0);
  std::fill(node.write_waiters.begin(), node.write_waiters.end(), 0);
  std::fill(node.timer.begin(), node.timer.end(), 0);
  for (NodeId n = 0; n < nodes_.size(); ++n) {
    if (dead(n)) continue;
    Actions out;
    nodes_[n].proto->on_node_down(k, &out);
    TRY(apply(n, out, nullptr));
  }
  return {};
}

base::Status Simulator::deliver(size_t index, bool keep_copy) {
  InFlight m = net_[index];
  if (!keep_copy) net_.erase(net_.begin() + static_cast<long>(index));
  if (dead(m.msg.to)) {
    ++counters_.dropped;  // nobody there
    return {};
  }
  if (dead(m.msg.from)) {
    // Sent before its sender died: must be rejected, and change nothing.
    Actions out;
    ++counters_.from_dead;
    if (nodes_[m.msg.to].proto->on_message(m.msg, &out).ok() || !out.empty()) {
      return fail("a message of a dead node was accepted: " + describe(m.msg));
    }
    return {};
  }
  trace(fmt::format("n{} recv {} val={}{}", m.msg.to, describe(m.msg), m.value,
                    keep_copy ? " (dup)" : ""));
  ++counters_.delivered;
  Actions out;
  base::Status st = nodes_[m.msg.to].proto->on_message(m.msg, &out);
  if (!st.ok()) return fail("legitimate message rejected: " + st.error().message());
  return apply(m.msg.to, out, &m);
}

base::Status Simulator::fire_timer(NodeId n, FrameId f) {
  Node& node = nodes_[n];
  node.timer[f] = 0;
  ++counters_.timeouts;
  trace(fmt::format("n{} timeout f{}", n, f));
  Actions out;
  node.proto->on_timeout(f, &out);
  return apply(n, out, nullptr);
}

bool Simulator::waiting() const {
  for (const Node& node : nodes_) {
    for (FrameId f = 0; f < opt_.frames; ++f) {
      if (node.read_waiters[f] || node.write_waiters[f]) return true;
    }
  }
  return false;
}

base::Status Simulator::check_invariants() const {
  for (FrameId f = 0; f < opt_.frames; ++f) {
    int writers = 0, readers = 0;
    // After a death the last write may be gone with it (the frame lost):
    // then no node may serve it, which the reads check.
    bool found = latest_[f] == 0 || dead_ != 0;
    for (NodeId n = 0; n < nodes_.size(); ++n) {
      if (dead(n)) continue;
      const Node& node = nodes_[n];
      if (node.map[f] == Access::kWrite) ++writers;
      if (node.map[f] == Access::kRead) ++readers;
      if (node.map[f] != Access::kNone) {
        if (node.cache[f] != latest_[f]) {
          return fail(fmt::format("n{} holds f{} = {} ({}), last write was {}", n, f, node.cache[f],
                                  to_string(node.map[f]), latest_[f]));
        }
        found = true;
      }
      if (node.proto->home_of(f) == n && node.home[f] == latest_[f]) found = true;
      LocalState want = node.map[f] == Access::kWrite  ? LocalState::kModified
                        : node.map[f] == Access::kRead ? LocalState::kShared
                                                       : LocalState::kInvalid;
      if (node.proto->view(f).state != want) {
        return fail(fmt::format("n{} thinks f{} is {} but its mapping allows {}", n, f,
                                to_string(node.proto->view(f).state), to_string(node.map[f])));
      }
    }
    if (writers > 1) return fail(fmt::format("f{} has {} writers", f, writers));
    if (writers == 1 && readers > 0) {
      return fail(fmt::format("f{} has a writer and {} readers", f, readers));
    }
    if (!found) return fail(fmt::format("f{} lost: value {} is nowhere", f, latest_[f]));
    if (placement_->homes_by_claim()) TRY(check_home(f));
  }
  return {};
}

base::Status Simulator::check_home(FrameId f) const {
  const NodeId decided = nodes_[placement_->home_of(f)].proto->home_of(f);  // at the arbiter
  for (NodeId n = 0; n < nodes_.size(); ++n) {
    const NodeId h = nodes_[n].proto->home_of(f);
    if (h != kNoNode && h != decided) {
      return fail(fmt::format("n{} believes f{} is homed on {}, its arbiter decided {}", n, f, h,
                              decided == kNoNode ? -1 : int(decided)));
    }
  }
  if (decided != kNoNode && !(touched_[f] & node_bit(decided))) {
    return fail(fmt::format("f{} is homed on n{}, which never touched it", f, decided));
  }
  return {};
}

base::Status Simulator::drain(uint64_t max_events) {
  for (uint64_t i = 0; i < max_events; ++i) {
    if (!net_.empty()) {
      size_t idx = chance(opt_.p_in_order) ? 0 : pick(net_.size());
      TRY(deliver(idx, false));
    } else {
      bool fired = false;
      for (NodeId n = 0; n < nodes_.size(); ++n) {
        for (FrameId f = 0; f < opt_.frames && !dead(n); ++f) {
          if (nodes_[n].timer[f]) {
            TRY(fire_timer(n, f));
            fired = true;
          }
        }
      }
      if (!fired) {
        if (waiting()) return fail("faults still wait but nothing is in flight");
        return {};
      }
    }
    TRY(check_invariants());
  }
  return fail(fmt::format("no quiescence after {} events", max_events));
}

base::Status Simulator::run() {
  uint64_t nodes = nodes_.size();
  for (counters_.steps = 0; counters_.steps < opt_.steps; ++counters_.steps) {
    for (size_t i = 0; i < held_.size();) {  // late copies come back
      if (held_[i].first <= counters_.steps) {
        net_.push_back(held_[i].second);
        held_[i] = held_.back();
        held_.pop_back();
      } else {
        ++i;
      }
    }
    double r = std::uniform_real_distribution<double>(0, 1)(rng_);
    NodeId n = static_cast<NodeId>(pick(nodes));
    FrameId f = pick(opt_.frames);
    if (opt_.p_kill > 0 && counters_.deaths < opt_.max_deaths &&
        nodes - std::popcount(dead_) > 2 && chance(opt_.p_kill)) {
      if (!dead(n)) TRY(kill(n));
      TRY(check_invariants());
      continue;
    }
    if (dead(n)) {
      // A dead node does nothing; its messages still travel.
    } else if (r < opt_.p_access) {
      TRY(access(n, f, chance(opt_.p_write) ? Access::kWrite : Access::kRead));
    } else if (r < opt_.p_access + opt_.p_evict) {
      TRY(evict(n, f));
    } else if (r < opt_.p_access + opt_.p_evict + opt_.p_timeout) {
      if (nodes_[n].timer[f]) TRY(fire_timer(n, f));
    } else if (!net_.empty()) {
      size_t idx = chance(opt_.p_in_order) ? 0 : pick(net_.size());
      if (chance(opt_.p_drop)) {
        trace(fmt::format("drop {}", describe(net_[idx].msg)));
        net_.erase(net_.begin() + static_cast<long>(idx));
        ++counters_.dropped;
      } else {
        if (opt_.p_hold > 0 && chance(opt_.p_hold)) {
          held_.emplace_back(counters_.steps + 1 + pick(opt_.hold_steps), net_[idx]);
          ++counters_.held;
        }
        bool dup = net_.size() < opt_.max_in_flight && chance(opt_.p_duplicate);
        if (dup) ++counters_.duplicated;
        TRY(deliver(idx, dup));
      }
    }
    TRY(check_invariants());
  }
  for (auto& [step, m] : held_) net_.push_back(m);  // the last late copies
  held_.clear();
  TRY(drain());
  // Every node reads every frame: each read must complete with the last value.
  for (NodeId n = 0; n < nodes; ++n) {
    if (dead(n)) continue;
    for (FrameId f = 0; f < opt_.frames; ++f) TRY(access(n, f, Access::kRead));
    TRY(drain());
  }
  if (waiting()) return fail("reads still wait after the final drain");
  return {};
}

}  // namespace dsm::protocol::sim
