#pragma once
// The Control calls (status, stats, shutdown) answered from a ControlHandler,
// for any server class that derives from wire::Control::Server: the control
// address serves wire::Control, the attach socket wire::Attach (which extends
// it). Internal to rpc/control; runs on the control server's thread.

#include <kj/async.h>
#include <spdlog/spdlog.h>

#include "rpc/control/control_types.h"
#include "rpc/schema/control.capnp.h"

namespace rpc::control {

inline void fill_stats(wire::Stats::Builder out, const StatsInfo& info) {
  auto list = out.initCounters(static_cast<unsigned>(info.counters.size()));
  for (unsigned i = 0; i < info.counters.size(); ++i) {
    list[i].setGroup(info.counters[i].group);
    list[i].setName(info.counters[i].name);
    list[i].setValue(info.counters[i].value);
  }
}

template <class Base>
class ControlCalls : public Base {
 public:
  explicit ControlCalls(ControlHandler& handler) : handler_(handler) {}

  kj::Promise<void> status(typename Base::StatusContext context) override {
    this->check_allowed();
    NodeStatusInfo info = handler_.status();
    auto s = context.getResults().initStatus();
    s.setCluster(info.cluster);
    s.setName(info.name);
    s.setPid(info.pid);
    s.setUptimeMs(info.uptime_ms);
    s.setMemoryGiven(info.memory_given);
    s.setMemoryUsed(info.memory_used);
    auto peers = s.initPeers(static_cast<unsigned>(info.peers.size()));
    for (unsigned i = 0; i < info.peers.size(); ++i) {
      const PeerInfo& p = info.peers[i];
      auto w = peers[i];
      w.setName(p.name);
      w.setAddress(p.address);
      w.setSelf(p.self);
      w.setUp(p.up);
      w.setRttUs(p.rtt_us);
      w.setMemoryGiven(p.memory_given);
      w.setMemoryUsed(p.memory_used);
      w.setRejected(p.rejected);
    }
    return kj::READY_NOW;
  }

  kj::Promise<void> stats(typename Base::StatsContext context) override {
    this->check_allowed();
    fill_stats(context.getResults().initStats(), handler_.stats());
    return kj::READY_NOW;
  }

  kj::Promise<void> shutdown(typename Base::ShutdownContext) override {
    this->check_allowed();
    spdlog::info("control: shutdown requested");
    handler_.request_shutdown();
    return kj::READY_NOW;
  }

 protected:
  // Throws (as an RPC error) when this connection may not make calls; the
  // attach socket refuses peers of another uid this way.
  virtual void check_allowed() {}

  ControlHandler& handler_;
};

}  // namespace rpc::control
