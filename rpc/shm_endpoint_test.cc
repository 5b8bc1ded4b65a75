// The shm provider's naming and segment rules (rpc/PROTOCOL.md, "Addresses";
// docs/shm-provider.md): what is special about shm beyond the transport
// tests, which run over shm as well as tcp (fabric_transport_test.cc).

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include "base/unique_fd.h"
#include "rpc/fabric_endpoint.h"
#include "rpc/fabric_transport.h"
#include "rpc/test_util.h"

namespace rpc {
namespace {

// Names no other test in this process uses (each is opened at most once).
std::vector<FabricAddress> fresh_pair() {
  static std::atomic<int> n{0};
  uint16_t port = static_cast<uint16_t>(60001 + (getpid() % 100) * 40 + 2 * n.fetch_add(1));
  return {{"127.0.0.1", port}, {"127.0.0.1", static_cast<uint16_t>(port + 1)}};
}

std::string segment(const FabricAddress& a) { return "/dev/shm/" + shm_name(a).value(); }

TEST(ShmEndpoint, NameComesFromTheAddress) {
  EXPECT_EQ(shm_name({"127.0.0.1", 7700}).value(), "pangaea-127.0.0.1-7700");
  EXPECT_FALSE(shm_name({"a/b", 7700}).ok());
  EXPECT_FALSE(shm_name({"", 7700}).ok());
}

TEST(ShmEndpoint, SegmentExistsWhileOpenAndIsRemovedOnClose) {
  auto peers = fresh_pair();
  auto e = FabricEndpoint::Create("shm", peers, 0);
  ASSERT_TRUE(e.ok()) << e.error().message();
  EXPECT_EQ(access(segment(peers[0]).c_str(), F_OK), 0);
  e->reset();
  EXPECT_NE(access(segment(peers[0]).c_str(), F_OK), 0);
}

// Regression: libfabric 1.17 crashed in fi_av_insert when a name was opened
// again in the same process after its endpoint closed.
TEST(ShmEndpoint, NameReusedInOneProcessIsRefusedNotACrash) {
  auto peers = fresh_pair();
  { ASSERT_TRUE(FabricEndpoint::Create("shm", peers, 0).ok()); }
  auto again = FabricEndpoint::Create("shm", peers, 0);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), EADDRINUSE);
  EXPECT_NE(again.error().message().find("already opened once in this process"), std::string::npos)
      << again.error().message();
}

// A segment left by a process killed with SIGKILL (nobody holds its lock)
// is removed; one a live process holds is refused.
TEST(ShmEndpoint, StaleSegmentIsReplacedLiveOneRefused) {
  auto peers = fresh_pair();
  {
    base::UniqueFd fd(open(segment(peers[0]).c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600));
    ASSERT_TRUE(fd.valid());
    ASSERT_EQ(write(fd.get(), "stale", 5), 5);
  }
  auto e = FabricEndpoint::Create("shm", peers, 0);
  EXPECT_TRUE(e.ok()) << e.error().message();

  base::UniqueFd held(open(segment(peers[1]).c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600));
  ASSERT_TRUE(held.valid());
  ASSERT_EQ(flock(held.get(), LOCK_EX), 0);
  auto busy = FabricEndpoint::Create("shm", peers, 1);
  ASSERT_FALSE(busy.ok());
  EXPECT_NE(busy.error().message().find("in use by another process"), std::string::npos)
      << busy.error().message();
  unlink(segment(peers[1]).c_str());
}

// Regression: a peer mapped before its segment existed, which then sent
// first, crashed the receiver (1.17 kept a null region for it). Now peers
// are mapped once their segment appears, and the later one may speak first.
TEST(ShmEndpoint, PeerThatAppearsLaterMaySendFirst) {
  auto peers = fresh_pair();
  auto a = FabricTransport::Create("shm", {"n0", "n1"}, peers, 0, "s");
  ASSERT_TRUE(a.ok()) << a.error().message();
  auto b = FabricTransport::Create("shm", {"n0", "n1"}, peers, 1, "s");
  ASSERT_TRUE(b.ok()) << b.error().message();
  testing::serve_echo(**a);
  auto r = testing::echo_request(**b, 0, 5, nullptr);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.sequence, 5u);
}

}  // namespace
}  // namespace rpc
