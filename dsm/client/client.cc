#include "dsm/client/client.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <thread>

#include <capnp/rpc-twoparty.h>
#include <fmt/format.h>
#include <kj/async-io.h>

#include "base/unique_fd.h"
#include "rpc/control/wire_values.h"
#include "rpc/schema/control.capnp.h"

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

namespace dsm::client {
namespace wire = rpc::control::wire;

namespace {

// The node sends one fd per message (the memfd).
constexpr unsigned kMaxFdsPerMessage = 1;

// The attach socket of `where` (see attach()).
std::string socket_path(const std::string& where) {
  return where.rfind('/', 0) == 0 ? where : rpc::control::attach_socket_path(where);
}

base::StatusOr<base::UniqueFd> connect_unix(const std::string& path) {
  // Only a socket of our own user or root may get our userfaultfd: in /tmp
  // anybody could have made one at a node's path while it was down.
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0 && st.st_uid != ::geteuid() && st.st_uid != 0) {
    return base::Error(fmt::format("attach socket {}: belongs to uid {}, neither you nor root; "
                                   "not trusting it",
                                   path, st.st_uid),
                       EPERM);
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return base::Error(fmt::format("attach socket {}: path too long", path), ENAMETOOLONG);
  }
  path.copy(addr.sun_path, path.size());
  base::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return base::Error::from_errno("socket(AF_UNIX)");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) return fd;
  const int err = errno;
  switch (err) {
    case ENOENT:
    case ECONNREFUSED:
      return base::Error(
          fmt::format("attach socket {}: {}: is the node running?", path, std::strerror(err)), err);
    case EACCES:
    case EPERM:
      return base::Error(fmt::format("attach socket {}: {}: only the node's user (and root) may "
                                     "attach",
                                     path, std::strerror(err)),
                         EACCES);
    default:
      return base::Error::from_errno(fmt::format("attach socket {}: connect", path), err);
  }
}

// A userfaultfd for this process, without UFFDIO_API: the node does the
// handshake and chooses the features.
base::StatusOr<base::UniqueFd> new_userfaultfd() {
  int fd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  if (fd >= 0) return base::UniqueFd(fd);
  const int err = errno;
  if (err != EPERM) return base::Error::from_errno("userfaultfd", err);
  // Unprivileged: /dev/userfaultfd may be open to us (since Linux 6.1).
  base::UniqueFd dev(::open("/dev/userfaultfd", O_RDWR | O_CLOEXEC));
  if (dev.valid()) {
    fd = ::ioctl(dev.get(), USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0) return base::UniqueFd(fd);
  }
  return base::Error(
      "userfaultfd: not permitted; run as root, with CAP_SYS_PTRACE, with access to "
      "/dev/userfaultfd, or with sysctl vm.unprivileged_userfaultfd=1",
      EPERM);
}

// The node's errors come as "errno N: message" (rpc/control/attach_listener.cc).
base::Error error_of(const kj::Exception& e, const std::string& what) {
  std::string text = e.getDescription().cStr();
  for (const char* prefix : {"remote exception: "}) {
    if (text.rfind(prefix, 0) == 0) text.erase(0, std::strlen(prefix));
  }
  int code = EIO;
  int n = 0, used = 0;
  if (std::sscanf(text.c_str(), "errno %d: %n", &n, &used) == 1 && used > 0) {
    code = n;
    text.erase(0, static_cast<size_t>(used));
  } else if (e.getType() == kj::Exception::Type::DISCONNECTED) {
    code = ECONNRESET;
    text = "the node closed the connection (" + text + ")";
  } else if (e.getType() == kj::Exception::Type::OVERLOADED) {
    code = ETIMEDOUT;
    text = "no answer from the node in time";
  }
  return base::Error(fmt::format("{}: {}", what, text), code);
}

// A capability carrying this process's userfaultfd to the node.
class FdImpl final : public wire::FileDescriptor::Server {
 public:
  explicit FdImpl(base::UniqueFd fd) : fd_(std::move(fd)) {}
  kj::Maybe<int> getFd() override { return fd_.get(); }

 private:
  base::UniqueFd fd_;
};

}  // namespace

// The connection to the node: a thread running the kj event loop that owns
// the RPC client and the capabilities; call() runs a function there.
class Region::Session {
 public:
  struct Caps {
    wire::Attach::Client attach;
    kj::Maybe<wire::Region::Client> region;
    kj::Maybe<wire::Attachment::Client> attachment;
    kj::Timer& timer;
  };

  static base::StatusOr<std::unique_ptr<Session>> Connect(const std::string& path,
                                                          std::chrono::milliseconds timeout) {
    base::UniqueFd fd = TRY(connect_unix(path));
    std::unique_ptr<Session> s(new Session(path, timeout));
    std::promise<base::Status> started;
    auto started_future = started.get_future();
    s->thread_ = std::thread([s = s.get(), fd = fd.release(), &started]() { s->run(fd, started); });
    TRY(started_future.get());
    return s;
  }

  ~Session() {
    if (stop_) stop_->fulfill();
    if (thread_.joinable()) thread_.join();
  }

  // Runs `f(caps)` (which returns a kj::Promise<T>) on the loop thread and
  // waits for its result, at most the timeout.
  template <class T, class F>
  base::StatusOr<T> call(const std::string& what, F f) {
    try {
      return executor_->executeSync([&]() -> kj::Promise<T> {
        return caps_->timer.timeoutAfter(timeout_.count() * kj::MILLISECONDS, f(*caps_));
      });
    } catch (const kj::Exception& e) {
      return error_of(e, what);
    }
  }

  const std::string& path() const { return path_; }
  bool connected() const { return connected_.load(); }

 private:
  Session(std::string path, std::chrono::milliseconds timeout)
      : path_(std::move(path)), timeout_(timeout) {}

  void run(int fd, std::promise<base::Status>& started) {
    bool reported = false;
    try {
      auto io = kj::setupAsyncIo();
      auto stream = io.lowLevelProvider->wrapUnixSocketFd(
          fd, kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP |
                  kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC);
      capnp::TwoPartyClient rpc(*stream, kMaxFdsPerMessage);
      Caps caps{rpc.bootstrap().castAs<wire::Attach>(), nullptr, nullptr, io.provider->getTimer()};
      auto watch =
          rpc.onDisconnect()
              .then([this] { connected_ = false; }, [this](kj::Exception&&) { connected_ = false; })
              .eagerlyEvaluate(nullptr);
      auto stop = kj::newPromiseAndCrossThreadFulfiller<void>();
      caps_ = &caps;
      executor_ = &kj::getCurrentThreadExecutor();
      stop_ = kj::mv(stop.fulfiller);
      started.set_value(base::Status());
      reported = true;
      stop.promise.wait(io.waitScope);
      // The capabilities go first (releasing them detaches on the node).
    } catch (const kj::Exception& e) {
      auto err = error_of(e, "attach socket " + path_);
      if (!reported) started.set_value(err);
    }
    connected_ = false;
  }

  const std::string path_;
  const std::chrono::milliseconds timeout_;
  std::thread thread_;
  // Set by the loop thread before it reports that it started.
  Caps* caps_ = nullptr;
  const kj::Executor* executor_ = nullptr;
  kj::Own<kj::CrossThreadPromiseFulfiller<void>> stop_;
  std::atomic<bool> connected_{true};
};

Region::Region(std::unique_ptr<Session> session) : session_(std::move(session)) {}

Region::~Region() {
  // Unmapped first: once the node detaches, a touch of the mapping would no
  // longer fault and would put pages into the node's memfd behind its back.
  if (data_) ::munmap(data_, size());
  if (session_->connected()) {
    (void)session_->call<bool>("detach", [](Session::Caps& c) -> kj::Promise<bool> {
      KJ_IF_MAYBE (a, c.attachment) {
        return a->detachRequest().send().then([](auto) { return true; });
      }
      return true;
    });
  }
  (void)session_->call<bool>("release", [](Session::Caps& c) -> kj::Promise<bool> {
    c.attachment = nullptr;
    c.region = nullptr;
    return true;
  });
}

bool Region::connected() const { return session_->connected(); }

base::StatusOr<rpc::control::StatsInfo> Region::stats() {
  return session_->call<rpc::control::StatsInfo>(
      "region stats", [](Session::Caps& c) -> kj::Promise<rpc::control::StatsInfo> {
        KJ_IF_MAYBE (r, c.region) {
          return r->statsRequest().send().then(
              [](auto response) { return rpc::control::from_wire(response.getStats()); });
        }
        KJ_FAIL_REQUIRE("no region");
      });
}

base::StatusOr<rpc::control::StatsInfo> Region::node_stats() {
  return session_->call<rpc::control::StatsInfo>(
      "node stats", [](Session::Caps& c) -> kj::Promise<rpc::control::StatsInfo> {
        return c.attach.statsRequest().send().then(
            [](auto response) { return rpc::control::from_wire(response.getStats()); });
      });
}

base::StatusOr<rpc::control::NodeStatusInfo> Region::node_status() {
  return session_->call<rpc::control::NodeStatusInfo>(
      "node status", [](Session::Caps& c) -> kj::Promise<rpc::control::NodeStatusInfo> {
        return c.attach.statusRequest().send().then(
            [](auto response) { return rpc::control::from_wire(response.getStatus()); });
      });
}

base::StatusOr<std::unique_ptr<Region>> attach(const std::string& where, const std::string& name,
                                               const Options& options) {
  const std::string path = socket_path(where);
  std::unique_ptr<Region> r(new Region(TRY(Region::Session::Connect(path, options.timeout))));
  Region::Session& s = *r->session_;

  // 1. The region and its memfd (a copy of ours, closed after mmap).
  struct Opened {
    rpc::control::RegionInfo info;
    int memfd = -1;
  };
  Opened opened = TRY(s.call<Opened>(fmt::format("open region \"{}\" at {}", name, path),
                                     [&name](Region::Session::Caps& c) -> kj::Promise<Opened> {
                                       auto req = c.attach.openRegionRequest();
                                       req.setName(name);
                                       return req.send().then([&c](auto response) {
                                         Opened o;
                                         auto w = response.getInfo();
                                         o.info.name = w.getName();
                                         o.info.frames = w.getFrames();
                                         o.info.frame_size = w.getFrameSize();
                                         o.info.protocol = w.getProtocol();
                                         o.info.node = w.getNode();
                                         c.region = response.getRegion();
                                         auto memfd = response.getMemfd();
                                         return memfd.getFd()
                                             .then([o](kj::Maybe<int> fd) mutable {
                                               KJ_IF_MAYBE (f, fd) {
                                                 o.memfd = ::fcntl(*f, F_DUPFD_CLOEXEC, 0);
                                               }
                                               return o;
                                             })
                                             .attach(kj::mv(memfd));
                                       });
                                     }));
  base::UniqueFd memfd(opened.memfd);
  r->info_ = opened.info;
  if (!memfd.valid()) {
    return base::Error(fmt::format("open region \"{}\": no memfd came with the answer", name),
                       EBADF);
  }
  const uint64_t frames = r->info_.frames, page = r->info_.frame_size;
  const uint64_t first = options.first;
  const uint64_t count = options.count ? options.count : (first < frames ? frames - first : 0);
  if (page != 4096 || count == 0 || first >= frames || count > frames - first) {
    return base::Error(fmt::format("region \"{}\" has {} frames: cannot map [{}, {})", name, frames,
                                   first, first + count),
                       EINVAL);
  }

  // 2. The mapping; not touched before the node serves it.
  void* p = ::mmap(nullptr, count * page, PROT_READ | PROT_WRITE, MAP_SHARED, memfd.get(),
                   static_cast<off_t>(first * page));
  if (p == MAP_FAILED) return base::Error::from_errno("mmap(region)");
  r->data_ = static_cast<std::byte*>(p);
  r->first_ = first;
  r->frames_ = count;
  memfd.reset();
  // A child would get the mapping without the userfaultfd registration.
  if (::madvise(p, count * page, MADV_DONTFORK) != 0) return base::Error::from_errno("madvise");

  // 3. The userfaultfd, handed to the node with the range.
  base::UniqueFd uffd = TRY(new_userfaultfd());
  const uint64_t address = reinterpret_cast<uint64_t>(p);
  TRY(s.call<bool>(fmt::format("attach region \"{}\" at {}", name, path),
                   [&uffd, address, first, count](Region::Session::Caps& c) -> kj::Promise<bool> {
                     KJ_IF_MAYBE (region, c.region) {
                       auto req = region->attachRequest();
                       req.setUffd(kj::heap<FdImpl>(std::move(uffd)));
                       req.setAddress(address);
                       req.setFirst(first);
                       req.setCount(count);
                       return req.send().then([&c](auto response) {
                         c.attachment = response.getAttachment();
                         return true;
                       });
                     }
                     KJ_FAIL_REQUIRE("no region");
                   }));
  return r;
}

}  // namespace dsm::client
