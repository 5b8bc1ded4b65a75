#include "rpc/control/attach_listener.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <capnp/rpc-twoparty.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "rpc/control/control_impl.h"

namespace rpc::control {
namespace {

// One userfaultfd per attach call; a peer sending more gets them closed.
constexpr unsigned kMaxFdsPerMessage = 1;

// An RPC error the client turns back into a base::Error (dsm/client):
// "errno N: message".
[[noreturn]] void fail(const base::Error& e) {
  kj::throwFatalException(kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                                        kj::str("errno ", e.code(), ": ", e.message().c_str())));
}

base::UniqueFd dup_fd(int fd) {
  base::UniqueFd copy(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!copy.valid()) fail(base::Error::from_errno("dup"));
  return copy;
}

// A capability carrying a file descriptor (wire::FileDescriptor).
class FdImpl final : public wire::FileDescriptor::Server {
 public:
  explicit FdImpl(base::UniqueFd fd) : fd_(std::move(fd)) {}
  kj::Maybe<int> getFd() override { return fd_.get(); }

 private:
  base::UniqueFd fd_;
};

class AttachmentImpl final : public wire::Attachment::Server {
 public:
  AttachmentImpl(RegionService& regions, uint64_t id) : regions_(regions), id_(id) {}
  // Released by the client, or by its connection closing.
  ~AttachmentImpl() { end(); }

  kj::Promise<void> detach(DetachContext) override {
    end();
    return kj::READY_NOW;
  }

 private:
  void end() {
    if (!ended_) regions_.detach(id_);
    ended_ = true;
  }
  RegionService& regions_;
  const uint64_t id_;
  bool ended_ = false;
};

class RegionImpl final : public wire::Region::Server {
 public:
  RegionImpl(RegionService& regions, std::string name, PeerCredentials peer)
      : regions_(regions), name_(std::move(name)), peer_(peer) {}

  kj::Promise<void> attach(AttachContext context) override {
    auto p = context.getParams();
    const uint64_t address = p.getAddress(), first = p.getFirst(), count = p.getCount();
    return p.getUffd().getFd().then(
        [this, context, address, first, count](kj::Maybe<int> fd) mutable {
          KJ_IF_MAYBE (received, fd) {
            auto id = regions_.attach(name_, peer_, dup_fd(*received), address, first, count);
            if (!id.ok()) fail(id.error());
            context.getResults().setAttachment(kj::heap<AttachmentImpl>(regions_, *id));
          } else {
            fail(base::Error("attach: no file descriptor came with `uffd`", EBADF));
          }
        });
  }

  kj::Promise<void> stats(StatsContext context) override {
    fill_stats(context.getResults().initStats(), regions_.region_stats(name_));
    return kj::READY_NOW;
  }

 private:
  RegionService& regions_;
  const std::string name_;
  const PeerCredentials peer_;
};

// The bootstrap of one attach connection.
class AttachImpl final : public ControlCalls<wire::Attach::Server> {
 public:
  AttachImpl(ControlHandler& handler, RegionService& regions, PeerCredentials peer,
             std::string refusal)
      : ControlCalls(handler), regions_(regions), peer_(peer), refusal_(std::move(refusal)) {}

  kj::Promise<void> openRegion(OpenRegionContext context) override {
    check_allowed();
    std::string name = context.getParams().getName();
    int memfd = -1;
    auto info = regions_.open_region(name, peer_, &memfd);
    if (!info.ok()) fail(info.error());
    auto r = context.getResults();
    r.setRegion(kj::heap<RegionImpl>(regions_, info->name, peer_));
    r.setMemfd(kj::heap<FdImpl>(dup_fd(memfd)));
    auto w = r.initInfo();
    w.setName(info->name);
    w.setFrames(info->frames);
    w.setFrameSize(info->frame_size);
    w.setProtocol(info->protocol);
    w.setNode(info->node);
    return kj::READY_NOW;
  }

 protected:
  void check_allowed() override {
    if (!refusal_.empty()) fail(base::Error(refusal_, EACCES));
  }

 private:
  RegionService& regions_;
  const PeerCredentials peer_;
  const std::string refusal_;
};

// One accepted connection: the RPC system goes before the network, the
// network before the stream.
struct Connection {
  kj::Own<kj::AsyncIoStream> stream;
  capnp::TwoPartyVatNetwork network;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpc;

  Connection(kj::Own<kj::AsyncIoStream> s, capnp::Capability::Client bootstrap)
      : stream(kj::mv(s)),
        // Accepted unix sockets are kj's AsyncStreamFd, a capability stream
        // (as TwoPartyServer::listenCapStreamReceiver assumes too).
        network(kj::downcast<kj::AsyncCapabilityStream>(*stream), kMaxFdsPerMessage,
                capnp::rpc::twoparty::Side::SERVER),
        rpc(capnp::makeRpcServer(network, kj::mv(bootstrap))) {}
};

class AttachListenerImpl final : public AttachListener, private kj::TaskSet::ErrorHandler {
 public:
  AttachListenerImpl(kj::Own<kj::ConnectionReceiver> receiver, ControlHandler& handler,
                     RegionService& regions)
      : receiver_(kj::mv(receiver)), handler_(handler), regions_(regions), tasks_(*this) {
    accepting_ = accept_loop().eagerlyEvaluate(
        [](kj::Exception&& e) { spdlog::error("attach socket: {}", e.getDescription().cStr()); });
  }

 private:
  kj::Promise<void> accept_loop() {
    return receiver_->accept().then([this](kj::Own<kj::AsyncIoStream> stream) {
      serve(kj::mv(stream));
      return accept_loop();
    });
  }

  void serve(kj::Own<kj::AsyncIoStream> stream) {
    ucred cred{};
    uint len = sizeof(cred);
    std::string refusal;
    try {
      stream->getsockopt(SOL_SOCKET, SO_PEERCRED, &cred, &len);
    } catch (const kj::Exception& e) {
      refusal = fmt::format("the node could not read the peer's credentials: {}",
                            e.getDescription().cStr());
    }
    const uid_t me = ::geteuid();
    if (refusal.empty() && cred.uid != me && cred.uid != 0) {
      refusal = fmt::format(
          "uid {} may not use this node's attach socket: it serves uid {} (and root) only",
          cred.uid, me);
    }
    PeerCredentials peer{cred.pid, cred.uid, cred.gid};
    if (refusal.empty()) {
      spdlog::debug("attach socket: connection from pid {} uid {}", peer.pid, peer.uid);
    } else {
      spdlog::warn("attach socket: pid {}: {}", peer.pid, refusal);
    }
    auto conn = kj::heap<Connection>(
        kj::mv(stream), kj::heap<AttachImpl>(handler_, regions_, peer, std::move(refusal)));
    // Ends when the peer closes (or dies); dropping the connection releases
    // its capabilities, so its attachments detach.
    auto done = conn->network.onDisconnect();
    tasks_.add(done.attach(kj::mv(conn)));
  }

  void taskFailed(kj::Exception&& e) override {
    spdlog::debug("attach socket: connection ended: {}", e.getDescription().cStr());
  }

  kj::Own<kj::ConnectionReceiver> receiver_;
  ControlHandler& handler_;
  RegionService& regions_;
  // Destroyed before the receiver: connections first, then accepting.
  kj::Promise<void> accepting_ = nullptr;
  kj::TaskSet tasks_;
};

}  // namespace

std::string attach_socket_path(const std::string& control) {
  if (control.rfind("unix:", 0) == 0) return control.substr(5) + ".attach";
  std::string host = control, port;
  if (auto colon = control.rfind(':'); colon != std::string::npos) {
    host = control.substr(0, colon);
    port = control.substr(colon + 1);
  }
  return fmt::format("/tmp/pangaea-attach-{}-{}.sock", host, port);
}

base::StatusOr<kj::Own<AttachListener>> AttachListener::Create(kj::AsyncIoContext& io,
                                                               const std::string& path,
                                                               ControlHandler& handler,
                                                               RegionService& regions) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return base::Error(fmt::format("attach socket {}: path empty or too long", path), ENAMETOOLONG);
  }
  path.copy(addr.sun_path, path.size());
  // Replace a socket left by a node that died; never remove anything else.
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return base::Error(fmt::format("attach socket {}: exists and is not a socket", path), EEXIST);
    }
    ::unlink(path.c_str());
  }
  base::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return base::Error::from_errno("attach socket: socket");
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return base::Error::from_errno(fmt::format("attach socket {}: bind", path));
  }
  // Owner only, set before listen(): nobody can connect in between.
  if (::chmod(path.c_str(), 0600) != 0 || ::listen(fd.get(), 64) != 0) {
    auto err = base::Error::from_errno(fmt::format("attach socket {}", path));
    ::unlink(path.c_str());
    return err;
  }
  auto receiver = io.lowLevelProvider->wrapListenSocketFd(
      fd.release(), kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP |
                        kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC |
                        kj::LowLevelAsyncIoProvider::ALREADY_NONBLOCK);
  return kj::Own<AttachListener>(kj::heap<AttachListenerImpl>(kj::mv(receiver), handler, regions));
}

}  // namespace rpc::control
