#pragma once
// Membership: which nodes are up, found by heartbeats over the data-plane
// transport. Every kHeartbeatInterval each peer gets a Heartbeat request
// (carrying our memory given/used and a timestamp); its HeartbeatAck gives
// the RTT. A peer heard from (request or ack) within kDownAfter is up; a
// silent one is marked down, its session forgotten, so that when it returns
// it is authenticated again before it counts as up. Transitions are logged
// at info. A peer silent for kDeadAfter (longer) is declared dead to the
// PeerChange callback (the node daemon gives the DSM region up on it). A
// peer the transport sees authenticate as a new incarnation (it restarted,
// maybe faster than any timeout) is declared dead and back at once
// (Transport::set_restart_observer), before its messages are handled; and
// this node learns from its peers' handshakes that it is itself a restart.
// A peer declared dead is fenced (Transport::declare_dead): that process is
// never taken back, however it returns (it is told, and stops: Fenced).
// Only a node that hears a majority of the cluster (itself included), or
// exactly half with the tie-breaker (the primary, else node 0), declares
// deaths, so the smaller side of a split never fences the larger; and a
// node that itself stood still (its heartbeat loop late by more than
// kDownAfter) restarts its peers' silence clocks instead of judging them.
//
// Threads: one heartbeat thread; the transport's progress thread runs the
// heartbeat handler and the ack callbacks. One mutex guards the peer table;
// it is never held while calling into the transport.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "node/config.h"
#include "rpc/transport.h"

namespace node {

struct PeerStatus {
  std::string name;
  std::string address;  // data plane host:port
  bool self = false;
  bool up = false;
  double rtt_us = 0;  // last heartbeat round trip; 0 for self or never measured
  uint64_t memory_given = 0;
  uint64_t memory_used = 0;
  uint64_t rejected = 0;  // frames from this peer the transport refused
};

class Membership {
 public:
  static constexpr std::chrono::milliseconds kHeartbeatInterval{200};
  static constexpr std::chrono::milliseconds kDownAfter{1000};

  // A peer is declared dead after kDeadAfter of silence (longer than
  // kDownAfter: "down" is what status shows and makes the transport
  // authenticate it afresh; "dead" is final for the DSM, which then gives up
  // the copies it held, so a stall of a live peer must not look like one).
  static constexpr std::chrono::milliseconds kDeadAfter{3000};

  // A peer was declared dead (`up` false: silent for kDeadAfter, after it
  // had been heard at least once) or is heard again after that (`up` true,
  // a new incarnation as far as the DSM knows), or restarted (dead then up,
  // in that order, at once). `node` is its config index. Once, with `node`
  // = this node and `up` false, when a peer's handshake says it knew an
  // earlier incarnation of this node (this process is a restart). Called
  // without the peer table's lock, from the heartbeat thread (dead), the
  // transport's progress thread (back, restarted) or Create (a restart
  // learned before it). Once per transition.
  using PeerChange = std::function<void(int node, bool up)>;
  // A peer declared this node's process dead (it was silent for kDeadAfter,
  // e.g. stopped or starved, and the peer gave up what it held) and refuses
  // it for good: the process must stop; a restart is taken back. `by` is
  // that peer. Called once, from the transport's progress thread.
  using Fenced = std::function<void(int by)>;

  // Starts heartbeats at once. `transport` must outlive the Membership;
  // `local_memory_used` is called from both threads.
  static base::StatusOr<std::unique_ptr<Membership>> Create(
      const ClusterConfig& config, int self_index, rpc::Transport& transport,
      std::function<uint64_t()> local_memory_used, PeerChange on_change = {},
      Fenced on_fenced = {});
  ~Membership();

  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;

  // One row per node of the config, in config order.
  std::vector<PeerStatus> snapshot() const;

 private:
  struct State;
  Membership(std::shared_ptr<State> state, rpc::Transport& transport);
  void run();
  void send_heartbeats();
  void check_silence();

  std::shared_ptr<State> state_;  // shared with callbacks that may outlive us
  rpc::Transport& transport_;
  std::thread thread_;
};

}  // namespace node
