#pragma once
// An in-process network for unit tests: each attached node gets a Transport
// that runs the real header, authentication and request logic
// (TransportBase) over an in-memory link, optionally with injected faults
// (rpc/faulty_transport.h). Destroying a node's transport "kills" it;
// attaching again "restarts" it with a new epoch.
//
// Threads: every attached transport has one delivery thread (its progress
// thread) that runs handlers and timers. Lock order: TransportBase's mutex,
// then LoopbackNetwork::mu_, then an inbox's mutex.

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/thread_annotations.h"
#include "rpc/faulty_transport.h"
#include "rpc/transport.h"

namespace rpc {

class LoopbackInbox;

class LoopbackNetwork {
 public:
  // A network of names.size() nodes; node i is names[i].
  explicit LoopbackNetwork(std::vector<std::string> names, FaultOptions faults = {});
  ~LoopbackNetwork();

  // Node `id`'s transport, knowing `secret`. REQUIRES: no live transport for
  // `id` (destroy the old one first).
  base::StatusOr<std::unique_ptr<Transport>> attach(NodeId id, std::string_view secret);

  const std::vector<std::string>& names() const { return names_; }

  // Replaces the fault model (a new seed restarts its random sequence).
  void set_faults(FaultOptions faults);
  // Cuts `id` off (every frame to or from it is dropped) or joins it again:
  // a network partition, while both sides keep running.
  void set_isolated(NodeId id, bool isolated);
  // Frames offered to the network, and frames it dropped (faults or no receiver).
  uint64_t frames() const;
  uint64_t dropped() const;

  // Carries one frame (page?, header, trailer) in 8-aligned storage. Used by
  // the transports; tests inject raw frames with from = -1.
  void deliver(NodeId from, NodeId to, std::vector<uint64_t> frame, size_t len);
  void set_inbox(NodeId id, std::shared_ptr<LoopbackInbox> inbox);

 private:
  const std::vector<std::string> names_;
  mutable std::mutex mu_;
  FaultInjector faults_ GUARDED_BY(mu_);
  std::vector<std::shared_ptr<LoopbackInbox>> inboxes_ GUARDED_BY(mu_);
  std::vector<bool> isolated_ GUARDED_BY(mu_);
  uint64_t frames_ GUARDED_BY(mu_) = 0;
  uint64_t dropped_ GUARDED_BY(mu_) = 0;
};

}  // namespace rpc
