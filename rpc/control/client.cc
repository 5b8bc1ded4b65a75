#include "rpc/control/client.h"

#include <capnp/rpc-twoparty.h>
#include <fmt/format.h>
#include <kj/async-io.h>

#include "rpc/control/wire_values.h"
#include "rpc/schema/control.capnp.h"

namespace rpc::control {

struct ControlClient::Io {
  kj::AsyncIoContext context = kj::setupAsyncIo();
};

namespace {

// One connection; the RPC client goes before the stream it runs on.
struct Connection {
  kj::Own<kj::AsyncIoStream> stream;
  kj::Own<capnp::TwoPartyClient> rpc;
  wire::Control::Client control;

  explicit Connection(kj::Own<kj::AsyncIoStream> s)
      : stream(kj::mv(s)),
        rpc(kj::heap<capnp::TwoPartyClient>(*stream)),
        control(rpc->bootstrap().castAs<wire::Control>()) {}
};

int errno_of(const kj::Exception& e) {
  switch (e.getType()) {
    case kj::Exception::Type::OVERLOADED:
      return ETIMEDOUT;
    case kj::Exception::Type::DISCONNECTED:
      return ECONNREFUSED;
    case kj::Exception::Type::UNIMPLEMENTED:
      return ENOSYS;
    default:
      return EIO;
  }
}

// Connects to `address`, runs `ask` on the Control capability and waits for
// its result, all within `timeout`. Any kj exception becomes an Error.
template <class T, class Ask>
base::StatusOr<T> call(kj::AsyncIoContext& io, const std::string& address,
                       std::chrono::milliseconds timeout, Ask ask) {
  try {
    // kj's timer reads the clock only while the event loop runs; after the
    // loop sat idle (a long guest run) its "now" is stale and the deadline
    // below would already have passed. A poll brings the clock up to date.
    io.waitScope.poll();
    auto promise = io.provider->getNetwork()
                       .parseAddress(address)
                       .then([](kj::Own<kj::NetworkAddress> addr) {
                         return addr->connect().attach(kj::mv(addr));
                       })
                       .then([ask = kj::mv(ask)](kj::Own<kj::AsyncIoStream> stream) mutable {
                         auto conn = kj::heap<Connection>(kj::mv(stream));
                         auto answer = ask(conn->control);
                         return answer.attach(kj::mv(conn));
                       });
    return io.provider->getTimer()
        .timeoutAfter(timeout.count() * kj::MILLISECONDS, kj::mv(promise))
        .wait(io.waitScope);
  } catch (const kj::Exception& e) {
    return base::Error(fmt::format("{}: {}", address, e.getDescription().cStr()), errno_of(e));
  }
}

}  // namespace

ControlClient::ControlClient(std::unique_ptr<Io> io) : io_(std::move(io)) {}
ControlClient::~ControlClient() = default;

base::StatusOr<std::unique_ptr<ControlClient>> ControlClient::Create() {
  try {
    return std::unique_ptr<ControlClient>(new ControlClient(std::make_unique<Io>()));
  } catch (const kj::Exception& e) {
    return base::Error(fmt::format("control client: {}", e.getDescription().cStr()));
  }
}

base::StatusOr<NodeStatusInfo> ControlClient::status(const std::string& address, Timeout timeout) {
  return call<NodeStatusInfo>(io_->context, address, timeout, [](wire::Control::Client& c) {
    return c.statusRequest().send().then(
        [](auto response) { return from_wire(response.getStatus()); });
  });
}

base::StatusOr<StatsInfo> ControlClient::stats(const std::string& address, Timeout timeout) {
  return call<StatsInfo>(io_->context, address, timeout, [](wire::Control::Client& c) {
    return c.statsRequest().send().then(
        [](auto response) { return from_wire(response.getStats()); });
  });
}

base::Status ControlClient::shutdown(const std::string& address, Timeout timeout) {
  auto r = call<bool>(io_->context, address, timeout, [](wire::Control::Client& c) {
    return c.shutdownRequest().send().then([](auto) { return true; });
  });
  if (!r.ok()) return std::move(r).error();
  return {};
}

}  // namespace rpc::control
