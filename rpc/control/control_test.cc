#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>

#include <gtest/gtest.h>

#include "rpc/control/client.h"
#include "rpc/control/server.h"

namespace rpc::control {
namespace {

class FakeHandler : public ControlHandler {
 public:
  NodeStatusInfo status() override {
    ++status_calls;
    NodeStatusInfo s;
    s.cluster = "lab";
    s.name = "n1";
    s.pid = 42;
    s.uptime_ms = 1234;
    s.memory_given = 1 << 20;
    s.memory_used = 8192;
    s.peers.push_back(PeerInfo{"n0", "127.0.0.1:7700", false, true, 85, 2 << 20, 4096, 3});
    s.peers.push_back(PeerInfo{"n1", "127.0.0.1:7702", true, true, 0, 1 << 20, 8192, 0});
    return s;
  }
  StatsInfo stats() override {
    return StatsInfo{{{"membership", "heartbeats_sent", 17}, {"peer:n0", "rejected", 3}}};
  }
  void request_shutdown() override { shutdowns++; }

  std::atomic<int> status_calls{0};
  std::atomic<int> shutdowns{0};
};

class ControlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pangaea-control-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    address_ = "unix:" + (dir_ / "ctl.sock").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
  std::string address_;
  FakeHandler handler_;
};

TEST_F(ControlTest, StatusRoundTrip) {
  auto server = ControlServer::Create(address_, handler_);
  ASSERT_TRUE(server.ok()) << server.error().message();
  auto client = std::move(ControlClient::Create().value());
  auto s = client->status(address_);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->cluster, "lab");
  EXPECT_EQ(s->name, "n1");
  EXPECT_EQ(s->pid, 42u);
  EXPECT_EQ(s->uptime_ms, 1234u);
  EXPECT_EQ(s->memory_given, 1u << 20);
  EXPECT_EQ(s->memory_used, 8192u);
  ASSERT_EQ(s->peers.size(), 2u);
  EXPECT_EQ(s->peers[0].name, "n0");
  EXPECT_EQ(s->peers[0].address, "127.0.0.1:7700");
  EXPECT_FALSE(s->peers[0].self);
  EXPECT_TRUE(s->peers[0].up);
  EXPECT_EQ(s->peers[0].rtt_us, 85u);
  EXPECT_EQ(s->peers[0].memory_given, 2u << 20);
  EXPECT_EQ(s->peers[0].rejected, 3u);
  EXPECT_TRUE(s->peers[1].self);
  // The client can ask again on the same loop.
  ASSERT_TRUE(client->status(address_).ok());
  EXPECT_EQ(handler_.status_calls, 2);
}

TEST_F(ControlTest, Stats) {
  auto server = ControlServer::Create(address_, handler_);
  ASSERT_TRUE(server.ok()) << server.error().message();
  auto client = std::move(ControlClient::Create().value());
  auto st = client->stats(address_);
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_EQ(st->get("membership", "heartbeats_sent"), 17u);
  EXPECT_EQ(st->get("peer:n0", "rejected"), 3u);
  EXPECT_EQ(st->get("nope", "nope", 99), 99u);
}

// Regression: kj's timer only reads the clock while its loop runs, so a
// client that sat idle longer than its timeout timed out at once on its next
// call (seen after a long guest run in pangaea boot).
TEST_F(ControlTest, IdleClientDoesNotTimeOutAtOnce) {
  auto server = ControlServer::Create(address_, handler_);
  ASSERT_TRUE(server.ok()) << server.error().message();
  auto client = std::move(ControlClient::Create().value());
  ASSERT_TRUE(client->status(address_, std::chrono::milliseconds(500)).ok());
  usleep(800 * 1000);  // idle longer than the timeout below
  auto st = client->stats(address_, std::chrono::milliseconds(500));
  ASSERT_TRUE(st.ok()) << st.error().message();
}

TEST_F(ControlTest, ShutdownReachesHandler) {
  auto server = ControlServer::Create(address_, handler_);
  ASSERT_TRUE(server.ok()) << server.error().message();
  auto client = std::move(ControlClient::Create().value());
  ASSERT_TRUE(client->shutdown(address_).ok());
  EXPECT_EQ(handler_.shutdowns, 1);
}

TEST_F(ControlTest, NoServerIsAnError) {
  auto client = std::move(ControlClient::Create().value());
  auto s = client->status(address_, std::chrono::milliseconds(300));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find(address_), std::string::npos) << s.error().message();
}

TEST_F(ControlTest, StaleSocketIsReplacedAndRemovedOnStop) {
  {
    auto first = ControlServer::Create(address_, handler_);
    ASSERT_TRUE(first.ok());
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ / "ctl.sock"));
  // A socket file left behind by a killed node.
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::string path = (dir_ / "ctl.sock").string();
  strncpy(sun.sun_path, path.c_str(), sizeof(sun.sun_path) - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)), 0);
  close(fd);
  auto second = ControlServer::Create(address_, handler_);
  ASSERT_TRUE(second.ok()) << second.error().message();
}

TEST_F(ControlTest, RefusesToReplaceARegularFile) {
  std::FILE* f = std::fopen((dir_ / "ctl.sock").c_str(), "w");
  std::fclose(f);
  EXPECT_FALSE(ControlServer::Create(address_, handler_).ok());
}

TEST_F(ControlTest, TcpAndPortInUse) {
  // Find a free port, then take it twice.
  int probe = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(probe, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)), 0);
  socklen_t len = sizeof(sin);
  getsockname(probe, reinterpret_cast<sockaddr*>(&sin), &len);
  close(probe);
  std::string address = "127.0.0.1:" + std::to_string(ntohs(sin.sin_port));
  auto server = ControlServer::Create(address, handler_);
  ASSERT_TRUE(server.ok()) << server.error().message();
  auto client = std::move(ControlClient::Create().value());
  auto s = client->status(address);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->name, "n1");
  auto clash = ControlServer::Create(address, handler_);
  ASSERT_FALSE(clash.ok());
  EXPECT_NE(clash.error().message().find(address), std::string::npos) << clash.error().message();
}

TEST_F(ControlTest, BadAddress) {
  EXPECT_FALSE(ControlServer::Create("no-such-host.invalid:1", handler_).ok());
}

}  // namespace
}  // namespace rpc::control
