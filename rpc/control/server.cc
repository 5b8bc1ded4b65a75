#include "rpc/control/server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <future>

#include <capnp/rpc-twoparty.h>
#include <fmt/format.h>
#include <kj/async-io.h>
#include <spdlog/spdlog.h>

#include "rpc/schema/control.capnp.h"

namespace rpc::control {
namespace {

class ControlImpl final : public wire::Control::Server {
 public:
  explicit ControlImpl(ControlHandler& handler) : handler_(handler) {}

  kj::Promise<void> status(StatusContext context) override {
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

  kj::Promise<void> stats(StatsContext context) override {
    StatsInfo info = handler_.stats();
    auto list =
        context.getResults().initStats().initCounters(static_cast<unsigned>(info.counters.size()));
    for (unsigned i = 0; i < info.counters.size(); ++i) {
      list[i].setGroup(info.counters[i].group);
      list[i].setName(info.counters[i].name);
      list[i].setValue(info.counters[i].value);
    }
    return kj::READY_NOW;
  }

  kj::Promise<void> shutdown(ShutdownContext) override {
    spdlog::info("control: shutdown requested");
    handler_.request_shutdown();
    return kj::READY_NOW;
  }

 private:
  ControlHandler& handler_;
};

std::string unix_path(const std::string& address) {
  return address.rfind("unix:", 0) == 0 ? address.substr(5) : std::string();
}

}  // namespace

struct ControlServer::Loop {
  // Set by the server thread before it reports that it started; fulfilled by
  // the destructor to end the loop.
  kj::Own<kj::CrossThreadPromiseFulfiller<void>> stop;
};

base::StatusOr<std::unique_ptr<ControlServer>> ControlServer::Create(const std::string& address,
                                                                     ControlHandler& handler) {
  std::string path = unix_path(address);
  if (!path.empty()) {
    // Replace a socket left by a node that died; never remove anything else.
    struct stat st;
    if (lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        return base::Error(fmt::format("control socket {}: exists and is not a socket", path),
                           EEXIST);
      }
      unlink(path.c_str());
    }
  }
  std::unique_ptr<ControlServer> server(new ControlServer(address));
  server->loop_ = std::make_unique<Loop>();
  std::promise<base::Status> started;
  auto started_future = started.get_future();
  Loop* loop = server->loop_.get();
  server->thread_ = std::thread([loop, address, &handler, started = std::move(started)]() mutable {
    bool reported = false;
    try {
      auto io = kj::setupAsyncIo();
      auto stop = kj::newPromiseAndCrossThreadFulfiller<void>();
      auto addr = io.provider->getNetwork().parseAddress(address).wait(io.waitScope);
      auto listener = addr->listen();
      capnp::TwoPartyServer rpc_server(kj::heap<ControlImpl>(handler));
      auto listening = rpc_server.listen(*listener);
      loop->stop = kj::mv(stop.fulfiller);
      started.set_value(base::Status());
      reported = true;
      stop.promise.exclusiveJoin(kj::mv(listening)).wait(io.waitScope);
      // Give replies already queued (a shutdown's answer) a moment to leave.
      io.provider->getTimer().afterDelay(20 * kj::MILLISECONDS).wait(io.waitScope);
    } catch (const kj::Exception& e) {
      std::string message =
          fmt::format("control plane on {}: {}", address, e.getDescription().cStr());
      if (!reported) {
        started.set_value(base::Error(message, EADDRNOTAVAIL));
      } else {
        spdlog::error("{}", message);
      }
    }
  });
  base::Status status = started_future.get();
  if (!status.ok()) {
    server->thread_.join();
    return std::move(status).error();
  }
  spdlog::info("control plane listening on {}", address);
  return server;
}

ControlServer::ControlServer(std::string address) : address_(std::move(address)) {}

ControlServer::~ControlServer() {
  if (loop_ && loop_->stop) loop_->stop->fulfill();
  if (thread_.joinable()) thread_.join();
  std::string path = unix_path(address_);
  if (!path.empty()) unlink(path.c_str());
}

}  // namespace rpc::control
