#pragma once
// A deterministic simulator for the randomized model check: N protocol
// instances, their caches and home copies as small values, and a network
// that drops, duplicates, delays and reorders messages. After every step it
// checks the coherence invariants:
//  - at most one node holds a frame writable, and then nobody else holds it;
//  - every readable copy holds the value of the last completed write (so a
//    completed read returns it: sequential consistency per frame);
//  - the last written value exists at some node (cache or home copy);
//  - each protocol's view of its copy agrees with the mapping its actions made;
//  - no legitimate message is ever rejected;
//  - first-touch: every node that knows a frame's home knows the same one,
//    its arbiter knows it too, and the home is a node that faulted on the
//    frame (it claimed it).
// At the end the network becomes reliable and every node reads every frame,
// which checks that all faults complete (no deadlock, no livelock).
//
// Threads: none. Same options and seed, same run.

#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "base/result.h"
#include "dsm/protocol/protocol.h"

namespace dsm::protocol::sim {

struct SimOptions {
  std::string protocol = "msi-home";
  std::string placement = "interleave";
  uint16_t nodes = 4;
  uint64_t frames = 4;
  uint64_t seed = 1;
  uint64_t steps = 10000;  // random steps before the final drain
  // Probabilities per step.
  double p_access = 0.35;  // a local read or write (write with p_write)
  double p_write = 0.4;
  double p_evict = 0.05;
  double p_timeout = 0.05;
  // Per delivered message.
  double p_drop = 0.05;
  double p_duplicate = 0.05;
  double p_in_order = 0.3;       // deliver the oldest message instead of a random one
  uint64_t max_in_flight = 200;  // no new duplicates beyond this
  // Per delivered message: hold a copy back for up to `hold_steps` steps,
  // then deliver it (very late duplicates of old epochs).
  double p_hold = 0;
  uint64_t hold_steps = 2000;
  Version first_version = 0;  // ProtocolConfig::first_version
  // Node deaths (dsm/PROTOCOLS.md "Node failure"): per step, kill a random
  // live node (its state is gone; the others get on_node_down at once; its
  // messages still in flight arrive later and must be rejected), at most
  // max_deaths times and never the last two live nodes.
  double p_kill = 0;
  uint16_t max_deaths = 0;
};

struct SimCounters {
  uint64_t steps = 0;
  uint64_t reads = 0;      // completed reads (each checked)
  uint64_t writes = 0;     // completed writes
  uint64_t evictions = 0;  // accepted evictions
  uint64_t delivered = 0;
  uint64_t dropped = 0;
  uint64_t duplicated = 0;
  uint64_t held = 0;  // copies delivered very late
  uint64_t timeouts = 0;
  uint64_t sent = 0;        // messages put on the network (self-deliveries excluded)
  uint64_t sent_pages = 0;  // of which carried a page
  uint64_t deaths = 0;
  uint64_t failed = 0;         // kFail actions (faults on lost frames)
  uint64_t from_dead = 0;      // messages of dead nodes delivered (and rejected)
};

class Simulator {
 public:
  static base::StatusOr<std::unique_ptr<Simulator>> Create(const SimOptions& options);

  // The random phase then the drain; the first violation is the error,
  // with the seed, the step and the last events in its message.
  base::Status run();

  // Building blocks (also for directed tests).
  base::Status access(NodeId n, FrameId f, Access a);
  base::Status evict(NodeId n, FrameId f);
  base::Status deliver(size_t index, bool keep_copy);
  base::Status fire_timer(NodeId n, FrameId f);
  base::Status kill(NodeId n);
  bool dead(NodeId n) const { return dead_ & node_bit(n); }
  // Delivers reliably and fires timers until nothing is in flight or waiting.
  base::Status drain(uint64_t max_events = 200000);
  base::Status check_invariants() const;

  const SimCounters& counters() const { return counters_; }
  const Protocol& protocol(NodeId n) const { return *nodes_[n].proto; }
  size_t in_flight() const { return net_.size(); }
  uint64_t latest(FrameId f) const { return latest_[f]; }
  ProtocolStats total_stats() const;

 private:
  struct InFlight {
    Message msg;
    uint64_t value = 0;
  };
  struct Node {
    std::unique_ptr<Protocol> proto;
    std::vector<uint64_t> cache;  // the cached copy's value
    std::vector<Access> map;      // what the mapping allows
    std::vector<uint64_t> home;   // home copies (msi-home)
    std::vector<uint32_t> read_waiters, write_waiters;
    std::vector<uint8_t> timer;
  };

  explicit Simulator(const SimOptions& options) : opt_(options), rng_(options.seed) {}
  base::Status apply(NodeId n, const Actions& actions, const InFlight* incoming);
  base::Status complete(NodeId n, FrameId f, Access a);
  bool waiting() const;
  base::Status check_home(FrameId f) const;  // first-touch invariants
  base::Error fail(const std::string& what) const;
  void trace(std::string event);
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  uint64_t pick(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }

  SimOptions opt_;
  std::mt19937_64 rng_;
  std::shared_ptr<const Placement> placement_;
  std::vector<Node> nodes_;
  std::vector<uint64_t> latest_;   // value of the last completed write per frame
  std::vector<uint64_t> touched_;  // per frame: bitset of the nodes that faulted on it
  std::deque<InFlight> net_;
  std::vector<std::pair<uint64_t, InFlight>> held_;  // (release step, message)
  uint64_t next_value_ = 1;
  uint64_t dead_ = 0;  // bitset of killed nodes
  SimCounters counters_;
  std::deque<std::string> trace_;  // the last events, for failure reports
};

}  // namespace dsm::protocol::sim
