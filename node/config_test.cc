#include "node/config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace node {
namespace {

constexpr std::string_view kGood = R"(# a comment
[cluster]
name = "lab"
secret = "inline-secret"
provider = "sockets"
protocol = "ivy-dynamic"
placement = "first-touch"

[guest]
cmdline = "init=/bin/sh"

[[node]]
name = "n0"
address = "10.0.0.1:7700"
memory = "2GiB"
primary = true

[[node]]
name = "n1"
address = "10.0.0.2:7700"
memory = 1048576
control = "unix:/run/n1.sock"
)";

// Parses `text` and expects exactly one error that starts with `prefix`
// ("cluster.toml:LINE: FIELD:").
void expect_error(std::string_view text, std::string_view prefix) {
  auto c = parse_config(text, "cluster.toml");
  ASSERT_FALSE(c.ok()) << "parsed but should fail with " << prefix;
  EXPECT_EQ(c.error().message().rfind(prefix, 0), 0u)
      << "got: " << c.error().message() << "\nwanted prefix: " << prefix;
  EXPECT_EQ(c.error().message().find('\n'), std::string::npos) << "one line only";
}

std::string with_cluster(std::string_view nodes) {
  return std::string("[cluster]\nname = \"x\"\nsecret = \"s\"\n") + std::string(nodes);
}

TEST(Config, GoodFile) {
  auto c = parse_config(kGood, "cluster.toml");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->source, "cluster.toml");
  EXPECT_EQ(c->name, "lab");
  EXPECT_EQ(c->secret, "inline-secret");
  EXPECT_EQ(c->provider, Provider::kSockets);
  EXPECT_EQ(c->protocol, "ivy-dynamic");
  EXPECT_EQ(c->placement, Placement::kFirstTouch);
  EXPECT_EQ(c->guest.cmdline, "init=/bin/sh");
  EXPECT_EQ(c->guest.memory, (2ull << 30) + (1ull << 20));  // default: the sum
  ASSERT_EQ(c->nodes.size(), 2u);
  EXPECT_EQ(c->nodes[0].name, "n0");
  EXPECT_EQ(c->nodes[0].host, "10.0.0.1");
  EXPECT_EQ(c->nodes[0].port, 7700);
  EXPECT_EQ(c->nodes[0].control, "10.0.0.1:7701");  // default control: port+1
  EXPECT_EQ(c->nodes[0].memory, 2ull << 30);
  EXPECT_TRUE(c->nodes[0].primary);
  EXPECT_EQ(c->nodes[1].control, "unix:/run/n1.sock");
  EXPECT_FALSE(c->nodes[1].primary);
  EXPECT_EQ(c->primary(), &c->nodes[0]);
  EXPECT_EQ(c->find("n1"), &c->nodes[1]);
  EXPECT_EQ(c->find("n9"), nullptr);
  EXPECT_EQ(c->index_of("n1"), 1);
  EXPECT_EQ(c->index_of("n9"), -1);
}

TEST(Config, Defaults) {
  auto c =
      parse_config(with_cluster("[[node]]\nname=\"a\"\naddress=\"h:1\"\nmemory=\"4KiB\"\n"), "f");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->provider, Provider::kTcp);
  EXPECT_EQ(fabric_provider_name(c->provider), "tcp;ofi_rxm");
  EXPECT_EQ(c->protocol, "msi-home");
  EXPECT_EQ(c->placement, Placement::kInterleave);
  EXPECT_EQ(c->guest.memory, 4096u);
  EXPECT_EQ(c->primary(), nullptr);
}

TEST(Config, ExplicitGuestMemory) {
  auto c = parse_config(
      with_cluster(
          "[guest]\nmemory = \"1GiB\"\n[[node]]\nname=\"a\"\naddress=\"h:1\"\nmemory=\"4KiB\"\n"),
      "f");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->guest.memory, 1ull << 30);
}

TEST(Config, CacheBudgetIsTheNodesMemoryWithAFloor) {
  NodeConfig n;
  n.memory = 16ull << 20;
  EXPECT_EQ(cache_budget_frames(n, 12288), 4096u);  // 16 MiB of a 48 MiB region
  EXPECT_EQ(cache_budget_frames(n, 4096), 0u);      // gives the whole region: no budget
  EXPECT_EQ(cache_budget_frames(n, 4000), 0u);
  n.memory = 64 << 10;  // tiny: the floor
  EXPECT_EQ(cache_budget_frames(n, 1u << 20), kMinCacheFrames);
  EXPECT_EQ(cache_budget_frames(n, kMinCacheFrames), 0u);
}

TEST(Config, SyntaxError) {
  expect_error("[cluster]\nname = \"x\"\nsecret = \n", "cluster.toml:3: syntax error:");
}

TEST(Config, MissingCluster) {
  expect_error("[[node]]\nname=\"a\"\n", "cluster.toml:1: cluster: missing");
}

TEST(Config, MissingClusterField) {
  expect_error("\n[cluster]\nname = \"x\"\n[[node]]\n", "cluster.toml:2: cluster.secret: missing");
}

TEST(Config, MissingNodeField) {
  expect_error(with_cluster("[[node]]\nname=\"a\"\naddress=\"h:1\"\n"),
               "cluster.toml:4: node[0].memory: missing");
  expect_error(with_cluster("[[node]]\nname=\"a\"\nmemory=\"4KiB\"\n"),
               "cluster.toml:4: node[0].address: missing");
  expect_error(with_cluster("[[node]]\naddress=\"h:1\"\nmemory=\"4KiB\"\n"),
               "cluster.toml:4: node[0].name: missing");
}

TEST(Config, UnknownFields) {
  expect_error("[cluster]\nname = \"x\"\nsecrte = \"s\"\n",
               "cluster.toml:3: cluster.secrte: unknown field");
  expect_error(with_cluster("[[node]]\nname=\"a\"\naddress=\"h:1\"\nmemory=\"4KiB\"\nmem=1\n"),
               "cluster.toml:8: node[0].mem: unknown field");
  expect_error(with_cluster("[nodes]\nx=1\n"), "cluster.toml:4: nodes: unknown field");
  expect_error(with_cluster("[guest]\nram=\"1GiB\"\n"), "cluster.toml:5: guest.ram: unknown field");
}

TEST(Config, WrongTypes) {
  expect_error("[cluster]\nname = 3\nsecret = \"s\"\n",
               "cluster.toml:2: cluster.name: expected a string, got an integer");
  expect_error(with_cluster("[[node]]\nname=\"a\"\naddress=\"h:1\"\nmemory=true\n"),
               "cluster.toml:7: node[0].memory: expected a size");
  expect_error(
      with_cluster("[[node]]\nname=\"a\"\naddress=\"h:1\"\nmemory=\"4KiB\"\nprimary=\"yes\"\n"),
      "cluster.toml:8: node[0].primary: expected true or false, got a string");
  expect_error("node = 3\n" + with_cluster(""), "cluster.toml:1: node: expected [[node]] tables");
  expect_error("cluster = 1\n", "cluster.toml:1: cluster: expected a table");
}

TEST(Config, BadSizes) {
  const char* node = "[[node]]\nname=\"a\"\naddress=\"h:1\"\nmemory=";
  expect_error(with_cluster(std::string(node) + "\"8GB?\"\n"),
               "cluster.toml:7: node[0].memory: \"8GB?\" has an unknown unit");
  expect_error(with_cluster(std::string(node) + "\"0\"\n"),
               "cluster.toml:7: node[0].memory: size \"0\" must be greater");
  expect_error(with_cluster(std::string(node) + "0\n"),
               "cluster.toml:7: node[0].memory: size 0 must be greater");
  expect_error(with_cluster(std::string(node) + "-4096\n"), "cluster.toml:7: node[0].memory:");
  expect_error(with_cluster(std::string(node) + "4097\n"),
               "cluster.toml:7: node[0].memory: 4097 bytes is not a multiple");
  expect_error(with_cluster("[guest]\nmemory=\"lots\"\n"), "cluster.toml:5: guest.memory:");
}

TEST(Config, BadAddresses) {
  const char* node = "[[node]]\nname=\"a\"\nmemory=\"4KiB\"\naddress=";
  expect_error(with_cluster(std::string(node) + "\"h\"\n"),
               "cluster.toml:7: node[0].address: \"h\" is not \"host:port\"");
  expect_error(with_cluster(std::string(node) + "\"h:0\"\n"), "cluster.toml:7: node[0].address:");
  expect_error(with_cluster(std::string(node) + "\"h:70000\"\n"),
               "cluster.toml:7: node[0].address:");
  expect_error(with_cluster(std::string(node) + "\"h:x\"\n"), "cluster.toml:7: node[0].address:");
  expect_error(with_cluster(std::string(node) + "\"h:65535\"\n"),
               "cluster.toml:7: node[0].address: port 65535");
  expect_error(with_cluster(std::string(node) + "\"h:1\"\ncontrol=\"nohost\"\n"),
               "cluster.toml:8: node[0].control:");
}

TEST(Config, DuplicateName) {
  expect_error(with_cluster("[[node]]\nname=\"a\"\naddress=\"h:1\"\nmemory=\"4KiB\"\n"
                            "[[node]]\nname=\"a\"\naddress=\"h:5\"\nmemory=\"4KiB\"\n"),
               "cluster.toml:9: node[1].name: duplicate node name \"a\"");
}

TEST(Config, DuplicateAddress) {
  expect_error(with_cluster("[[node]]\nname=\"a\"\naddress=\"h:1\"\nmemory=\"4KiB\"\n"
                            "[[node]]\nname=\"b\"\naddress=\"h:1\"\nmemory=\"4KiB\"\n"),
               "cluster.toml:10: node[1].address: h:1 is already node[0]'s address");
  // The default control port of a counts too.
  expect_error(with_cluster("[[node]]\nname=\"a\"\naddress=\"h:1\"\nmemory=\"4KiB\"\n"
                            "[[node]]\nname=\"b\"\naddress=\"h:2\"\nmemory=\"4KiB\"\n"),
               "cluster.toml:10: node[1].address: h:2 is already node[0]'s control address");
}

// shm joins nodes of one host only (rpc/PROTOCOL.md, "Addresses").
TEST(Config, ShmNeedsOneHost) {
  const std::string shm = "[cluster]\nname = \"x\"\nsecret = \"s\"\nprovider = \"shm\"\n";
  expect_error(shm +
                   "[[node]]\nname=\"a\"\naddress=\"h:1\"\nmemory=\"4KiB\"\n"
                   "[[node]]\nname=\"b\"\naddress=\"g:5\"\nmemory=\"4KiB\"\n",
               "cluster.toml:11: node[1].address: provider \"shm\" joins nodes on one host only");
  auto c = parse_config(shm +
                            "[[node]]\nname=\"a\"\naddress=\"h:1\"\nmemory=\"4KiB\"\n"
                            "[[node]]\nname=\"b\"\naddress=\"h:5\"\nmemory=\"4KiB\"\n",
                        "cluster.toml");
  EXPECT_TRUE(c.ok()) << c.error().message();
}

TEST(Config, TwoPrimaries) {
  expect_error(
      with_cluster("[[node]]\nname=\"a\"\naddress=\"h:1\"\nmemory=\"4KiB\"\nprimary=true\n"
                   "[[node]]\nname=\"b\"\naddress=\"h:5\"\nmemory=\"4KiB\"\nprimary=true\n"),
      "cluster.toml:13: node[1].primary: a second primary");
}

TEST(Config, NoNodes) {
  expect_error(with_cluster(""), "cluster.toml:1: node: no [[node]] entries");
  expect_error("node = []\n" + with_cluster(""), "cluster.toml:1: node:");
}

TEST(Config, BadEnums) {
  expect_error("[cluster]\nname=\"x\"\nsecret=\"s\"\nprovider=\"udp\"\n",
               "cluster.toml:4: cluster.provider: unknown provider");
  expect_error("[cluster]\nname=\"x\"\nsecret=\"s\"\nplacement=\"random\"\n",
               "cluster.toml:4: cluster.placement: unknown placement");
}

class ConfigFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pangaea-config-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, std::string_view text) {
    std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  std::filesystem::path dir_;
};

constexpr std::string_view kNode = "[[node]]\nname=\"a\"\naddress=\"h:1\"\nmemory=\"4KiB\"\n";

TEST_F(ConfigFiles, SecretFromFileIsTrimmedAndRelativeToConfig) {
  write("secret", "  s3cret\n\n");
  std::string path =
      write("c.toml",
            std::string("[cluster]\nname=\"x\"\nsecret=\"file:secret\"\n") + std::string(kNode));
  auto c = load_config(path);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->secret, "s3cret");
  EXPECT_EQ(c->source, path);
}

TEST_F(ConfigFiles, UnreadableSecretFile) {
  std::string path =
      write("c.toml", std::string("[cluster]\nname=\"x\"\nsecret=\"file:/nonexistent/pangaea\"\n") +
                          std::string(kNode));
  auto c = load_config(path);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message().rfind(path + ":3: cluster.secret: cannot read secret file", 0), 0u)
      << c.error().message();
}

TEST_F(ConfigFiles, EmptySecretFile) {
  write("secret", "\n");
  std::string path =
      write("c.toml",
            std::string("[cluster]\nname=\"x\"\nsecret=\"file:secret\"\n") + std::string(kNode));
  auto c = load_config(path);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find(":3: cluster.secret: secret file"), std::string::npos)
      << c.error().message();
}

TEST_F(ConfigFiles, MissingFile) {
  auto c = load_config((dir_ / "nope.toml").string());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("nope.toml: cannot open"), std::string::npos)
      << c.error().message();
}

TEST(Config, ExampleFileParses) {
  auto c = load_config(PANGAEA_EXAMPLE_CONFIG);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_GE(c->nodes.size(), 2u);
  EXPECT_NE(c->primary(), nullptr);
}

TEST(Config, SplitHostPort) {
  auto hp = split_host_port("127.0.0.1:7700");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "127.0.0.1");
  EXPECT_EQ(hp->port, 7700);
  EXPECT_FALSE(split_host_port(":7700").ok());
  EXPECT_FALSE(split_host_port("h:").ok());
  EXPECT_FALSE(split_host_port("h:7700x").ok());
}

}  // namespace
}  // namespace node
