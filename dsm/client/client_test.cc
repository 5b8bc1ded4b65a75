// dsm/client against an in-process node side: a ControlServer with an
// AttachService over a real FaultEngine (PatternProvider as the "rest of the
// cluster"), reached through its attach socket like any other process would.
// The client's mapping is a second mapping of the engine's memfd with its own
// userfaultfd, so these tests see what an out-of-process client sees; the
// integration tests (tests/integration/client_test.cc) use real nodes.

#include "dsm/client/client.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>

#include "dsm/client/attach_service.h"
#include "dsm/fault/fault_engine.h"
#include "dsm/fault/pattern_provider.h"
#include "dsm/fault/uffd.h"
#include "rpc/control/server.h"

namespace dsm::client {
namespace {

constexpr uint64_t kFrames = 32;
constexpr uint64_t kPage = 4096;

class NoControl : public rpc::control::ControlHandler {
 public:
  rpc::control::NodeStatusInfo status() override {
    rpc::control::NodeStatusInfo s;
    s.name = "n-test";
    return s;
  }
  rpc::control::StatsInfo stats() override { return {{{"node", "answers", 1}}}; }
  void request_shutdown() override {}
};

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pangaea-client-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    control_ = "unix:" + (dir_ / "ctl.sock").string();
    FaultEngineOptions o;
    o.frames = kFrames;
    o.read_ahead_max = 0;  // one fetch per touched frame, to count them
    auto e = FaultEngine::Create(o, &provider_);
    ASSERT_TRUE(e.ok()) << e.error().message();
    engine_ = std::move(*e);
    FaultEngine* engine = engine_.get();
    service_ = std::make_unique<AttachService>(
        "n-test",
        std::vector<ServedRegion>{
            {"guest", engine, "pattern", [engine] {
               rpc::control::StatsInfo s;
               s.counters.push_back({"region", "read_misses", engine->stats().read_misses});
               return s;
             }}});
    auto s = rpc::control::ControlServer::Create(control_, handler_, service_.get());
    ASSERT_TRUE(s.ok()) << s.error().message();
    server_ = std::move(*s);
  }
  void TearDown() override {
    server_.reset();
    service_.reset();
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }

  static uint64_t word(const Region& r, uint64_t frame, uint64_t i = 0) {
    return std::atomic_ref<uint64_t>(
               reinterpret_cast<uint64_t*>(r.data() + (frame - r.first()) * kPage)[i])
        .load();
  }

  std::filesystem::path dir_;
  std::string control_;
  PatternProvider provider_;
  std::unique_ptr<FaultEngine> engine_;
  std::unique_ptr<AttachService> service_;
  NoControl handler_;
  std::unique_ptr<rpc::control::ControlServer> server_;
};

TEST_F(ClientTest, AttachSocketIsOwnerOnlyAndNamedAfterTheControlAddress) {
  EXPECT_EQ(server_->attach_path(), (dir_ / "ctl.sock.attach").string());
  EXPECT_EQ(rpc::control::attach_socket_path(control_), server_->attach_path());
  EXPECT_EQ(rpc::control::attach_socket_path("127.0.0.1:7701"),
            "/tmp/pangaea-attach-127.0.0.1-7701.sock");
  struct stat st;
  ASSERT_EQ(stat(server_->attach_path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(ClientTest, ReadsAndWritesAreServedByTheNodesEngine) {
  auto r = attach(control_);
  ASSERT_TRUE(r.ok()) << r.error().message();
  Region& region = **r;
  EXPECT_EQ(region.info().name, "guest");
  EXPECT_EQ(region.info().node, "n-test");
  EXPECT_EQ(region.info().frames, kFrames);
  EXPECT_EQ(region.size(), kFrames * kPage);
  EXPECT_EQ(service_->attached(), 1u);

  // A read miss in this mapping is fetched by the engine from the provider.
  EXPECT_EQ(word(region, 3, 7), PatternProvider::pattern_word(3, 7));
  EXPECT_EQ(provider_.fetches_of(3), 1u);
  // A write (an upgrade of the Shared frame) lands in the node's memfd.
  std::atomic_ref<uint64_t>(reinterpret_cast<uint64_t*>(region.data() + 3 * kPage)[7])
      .store(0xC0FFEE);
  std::vector<std::byte> page(kPage);
  ASSERT_TRUE(engine_->read_page(3, page).ok());
  uint64_t seen;
  std::memcpy(&seen, page.data() + 7 * 8, 8);
  EXPECT_EQ(seen, 0xC0FFEEu);
  // The node's own mapping sees it too, without another fetch.
  EXPECT_EQ(reinterpret_cast<uint64_t*>(engine_->base() + 3 * kPage)[7], 0xC0FFEEu);
  EXPECT_EQ(provider_.fetches_of(3), 1u + provider_.upgrades());
}

TEST_F(ClientTest, InvalidationPunchesThroughToTheClient) {
  auto r = attach(control_);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(word(**r, 5), PatternProvider::pattern_word(5, 0));
  ASSERT_TRUE(engine_->invalidate(5).ok());  // another node wrote it
  EXPECT_EQ(word(**r, 5), PatternProvider::pattern_word(5, 0));
  EXPECT_EQ(provider_.fetches_of(5), 2u);  // faulted again: fetched again
  // New data installed by the protocol is what the client reads.
  std::vector<std::byte> page(kPage, std::byte{0x5A});
  ASSERT_TRUE(engine_->install(5, page.data(), false).ok());
  EXPECT_EQ(word(**r, 5), 0x5A5A5A5A5A5A5A5Aull);
}

TEST_F(ClientTest, PartialMappingAndStats) {
  Options o;
  o.first = 8;
  o.count = 4;
  auto r = attach(control_, "guest", o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ((*r)->first(), 8u);
  EXPECT_EQ((*r)->frames(), 4u);
  EXPECT_EQ(word(**r, 10), PatternProvider::pattern_word(10, 0));
  auto st = (*r)->stats();
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_GE(st->get("region", "read_misses"), 1u);
  auto node = (*r)->node_stats();
  ASSERT_TRUE(node.ok()) << node.error().message();
  EXPECT_EQ(node->get("node", "answers"), 1u);
  auto status = (*r)->node_status();
  ASSERT_TRUE(status.ok()) << status.error().message();
  EXPECT_EQ(status->name, "n-test");
}

TEST_F(ClientTest, DestroyingTheClientDetaches) {
  {
    auto r = attach(control_);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(word(**r, 1), PatternProvider::pattern_word(1, 0));
    EXPECT_EQ(service_->attached(), 1u);
  }
  EXPECT_EQ(service_->attached(), 0u);
  // The node goes on: its own mapping still faults through the engine.
  EXPECT_EQ(reinterpret_cast<uint64_t*>(engine_->base() + 2 * kPage)[0],
            PatternProvider::pattern_word(2, 0));
  // And a new client attaches.
  auto again = attach(control_);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(word(**again, 1), PatternProvider::pattern_word(1, 0));
}

TEST_F(ClientTest, ClearErrors) {
  auto bad_name = attach(control_, "nope");
  ASSERT_FALSE(bad_name.ok());
  EXPECT_EQ(bad_name.error().code(), ENOENT);
  EXPECT_NE(bad_name.error().message().find("serves no region named \"nope\" (regions: guest)"),
            std::string::npos)
      << bad_name.error().message();

  Options o;
  o.first = kFrames;
  auto bad_range = attach(control_, "guest", o);
  ASSERT_FALSE(bad_range.ok());
  EXPECT_EQ(bad_range.error().code(), EINVAL) << bad_range.error().message();

  auto no_node = attach("unix:" + (dir_ / "nobody.sock").string());
  ASSERT_FALSE(no_node.ok());
  EXPECT_EQ(no_node.error().code(), ENOENT);
  EXPECT_NE(no_node.error().message().find("is the node running?"), std::string::npos)
      << no_node.error().message();
  EXPECT_EQ(service_->attached(), 0u);
}

// The service's checks, called directly as the socket server would.
TEST_F(ClientTest, ServiceRefusesWhatIsNotAFreshUffdOverItsMapping) {
  rpc::control::PeerCredentials me{getpid(), getuid(), getgid()};
  void* p = mmap(nullptr, 2 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, engine_->memfd(), 0);
  ASSERT_NE(p, MAP_FAILED);
  const uint64_t addr = reinterpret_cast<uint64_t>(p);
  auto fresh = [] {
    return base::UniqueFd(static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK)));
  };

  auto not_uffd = service_->attach("guest", me, base::UniqueFd(eventfd(0, 0)), addr, 0, 2);
  ASSERT_FALSE(not_uffd.ok());
  EXPECT_EQ(not_uffd.error().code(), EBADF);

  auto used = uffd::open(uffd::kShmemFeatures);  // UFFDIO_API done by someone else
  ASSERT_TRUE(used.ok());
  auto initialised = service_->attach("guest", me, std::move(*used), addr, 0, 2);
  ASSERT_FALSE(initialised.ok());
  EXPECT_NE(initialised.error().message().find("fresh"), std::string::npos);

  auto wrong_offset = service_->attach("guest", me, fresh(), addr, 1, 2);
  ASSERT_FALSE(wrong_offset.ok());
  EXPECT_EQ(wrong_offset.error().code(), EINVAL) << wrong_offset.error().message();

  std::vector<std::byte> private_memory(4 * kPage);
  auto not_memfd = service_->attach(
      "guest", me, fresh(),
      (reinterpret_cast<uint64_t>(private_memory.data()) + kPage - 1) & ~(kPage - 1), 0, 1);
  ASSERT_FALSE(not_memfd.ok());
  EXPECT_EQ(not_memfd.error().code(), EINVAL);

  auto too_long = service_->attach("guest", me, fresh(), addr, 0, 3);
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.error().code(), EINVAL) << too_long.error().message();

  auto ok = service_->attach("guest", me, fresh(), addr, 0, 2);
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  EXPECT_EQ(reinterpret_cast<uint64_t*>(p)[1], PatternProvider::pattern_word(0, 1));
  munmap(p, 2 * kPage);
  service_->detach(*ok);
  EXPECT_EQ(service_->attached(), 0u);
  std::vector<rpc::control::Counter> counters;
  service_->add_counters(counters);
  rpc::control::StatsInfo info{counters};
  EXPECT_EQ(info.get("clients", "refused"), 5u);
  EXPECT_EQ(info.get("clients", "attaches"), 1u);
  EXPECT_EQ(info.get("clients", "detaches"), 1u);
}

}  // namespace
}  // namespace dsm::client
