#include "rpc/control/server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <future>

#include <capnp/rpc-twoparty.h>
#include <fmt/format.h>
#include <kj/async-io.h>
#include <spdlog/spdlog.h>

#include "rpc/control/attach_listener.h"
#include "rpc/control/control_impl.h"
#include "rpc/schema/control.capnp.h"

namespace rpc::control {
namespace {

using ControlImpl = ControlCalls<wire::Control::Server>;

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
                                                                     ControlHandler& handler,
                                                                     RegionService* regions) {
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
  if (regions) server->attach_path_ = attach_socket_path(address);
  const std::string attach_path = server->attach_path_;
  server->loop_ = std::make_unique<Loop>();
  std::promise<base::Status> started;
  auto started_future = started.get_future();
  Loop* loop = server->loop_.get();
  server->thread_ = std::thread(
      [loop, address, attach_path, &handler, regions, started = std::move(started)]() mutable {
        bool reported = false;
        try {
          auto io = kj::setupAsyncIo();
          auto stop = kj::newPromiseAndCrossThreadFulfiller<void>();
          auto addr = io.provider->getNetwork().parseAddress(address).wait(io.waitScope);
          auto listener = addr->listen();
          capnp::TwoPartyServer rpc_server(kj::heap<ControlImpl>(handler));
          auto listening = rpc_server.listen(*listener);
          kj::Own<AttachListener> attach;
          if (regions) {
            auto a = AttachListener::Create(io, attach_path, handler, *regions);
            if (!a.ok()) {
              started.set_value(std::move(a).error());
              return;
            }
            attach = kj::mv(*a);
          }
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
    server->attach_path_.clear();  // not ours to remove
    return std::move(status).error();
  }
  spdlog::info("control plane listening on {}{}", address,
               regions ? ", attach socket " + server->attach_path_ : std::string());
  return server;
}

ControlServer::ControlServer(std::string address) : address_(std::move(address)) {}

ControlServer::~ControlServer() {
  if (loop_ && loop_->stop) loop_->stop->fulfill();
  if (thread_.joinable()) thread_.join();
  std::string path = unix_path(address_);
  if (!path.empty()) unlink(path.c_str());
  if (!attach_path_.empty()) unlink(attach_path_.c_str());
}

}  // namespace rpc::control
