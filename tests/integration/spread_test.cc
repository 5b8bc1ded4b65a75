// The guest's RAM spread over the cluster (docs/spread.md): `pangaea boot`
// with --local-nodes and with --config (nodes started by the test), and the
// `pangaea run` demo. A guest program holds a few MiB with a pattern, reads
// them back and prints their md5sum: the output must be the same as natively,
// and the other nodes must have served the pages the primary fetched.

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace itest {
namespace {

bool contains(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

// 6 MiB held in a shell variable (guest heap), 16 MiB through dd's 8 MiB
// buffer; each read back through md5sum.
const std::string kScript =
    "x=$(/bin/busybox head -c 6291456 /dev/zero | /bin/busybox tr '\\0' 'Z'); echo ${#x}; "
    "echo -n \"$x\" | /bin/busybox md5sum; "
    "/bin/busybox dd if=/dev/zero bs=8M count=2 2>/dev/null | /bin/busybox tr '\\0' 'p' | "
    "/bin/busybox md5sum";

std::string native_output() {
  // Through a file: the same text the guest gets as one argv word.
  TempDir dir;
  dir.write("script.sh", kScript + "\n");
  FILE* p = popen(("/bin/busybox sh " + dir.file("script.sh")).c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// The SERVED and FETCHED columns of the spread table (tools/spread_table.h)
// for `node`, or -1 when its row is missing.
struct Row {
  long homed = -1, fetched = -1, served = -1;
};
Row spread_row(const std::string& table, const std::string& node) {
  std::istringstream in(table);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string name, home_mem, cached;
    Row r;
    if (!(words >> name) || name != node) continue;
    if (words >> r.homed >> home_mem >> cached >> r.fetched >> r.served) return r;
  }
  return {};
}

// A node's counters.
base::StatusOr<rpc::control::StatsInfo> stats_of(Nodes& nodes, const node::NodeConfig& n) {
  return nodes.stats(n);
}

bool have_busybox() { return access("/bin/busybox", X_OK) == 0; }

TEST(Spread, LocalNodesBootGivesNativeOutputAndFetchesFromEveryNode) {
  if (!have_busybox()) GTEST_SKIP() << "no /bin/busybox (busybox-static)";
  RunResult r =
      run_pangaea({"boot", "--local-nodes", "3", "--node-stats", "mem=96M", "root=/dev/root",
                   "rootfstype=hostfs", "rootflags=/", "--", "/bin/busybox", "sh", "-c", kScript},
                  110s);
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(r.out, native_output()) << r.err;
  EXPECT_TRUE(contains(r.out, "6291456\n")) << r.out;
  Row primary = spread_row(r.err, "n0");
  EXPECT_GT(primary.fetched, 0) << r.err;
  for (const char* n : {"n1", "n2"}) {
    Row row = spread_row(r.err, n);
    EXPECT_GT(row.homed, 0) << n << "\n" << r.err;
    EXPECT_GT(row.served, 0) << n << " served no page to the primary\n" << r.err;
  }
}

TEST(Spread, ConfigBootUsesTheNodesOfTheFile) {
  if (!have_busybox()) GTEST_SKIP() << "no /bin/busybox (busybox-static)";
  TempDir dir;
  // Ports below the ephemeral range, apart from the other tests' clusters.
  int base = 24000 + (getpid() % 500) * 8;
  std::string text = fmt::format(
      "[cluster]\nname = \"spread\"\nsecret = \"spread-test-secret\"\n[guest]\nmemory = "
      "\"48MiB\"\n");
  for (int i = 0; i < 3; ++i) {
    text +=
        fmt::format("[[node]]\nname = \"n{}\"\naddress = \"127.0.0.1:{}\"\nmemory = \"16MiB\"\n{}",
                    i, base + 2 * i, i == 0 ? "primary = true\n" : "");
  }
  dir.write("cluster.toml", text);
  std::string config = dir.file("cluster.toml");
  auto parsed = node::load_config(config);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  Nodes nodes;
  nodes.start("n1", config, dir.file("n1.log"));
  nodes.start("n2", config, dir.file("n2.log"));
  RunResult r = run_pangaea({"boot", "--config", config, "root=/dev/root", "rootfstype=hostfs",
                             "rootflags=/", "--", "/bin/busybox", "sh", "-c", kScript},
                            110s);
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(r.out, native_output()) << r.err;
  // The nodes outlive the boot: their region counters say what they served.
  for (int i = 1; i < 3; ++i) {
    auto st = stats_of(nodes, parsed->nodes[static_cast<size_t>(i)]);
    ASSERT_TRUE(st.ok()) << st.error().message();
    EXPECT_EQ(st->get("region", "frames"), 48u << 8);
    EXPECT_GT(st->get("region", "frames_homed"), 0u);
    EXPECT_GT(st->get("region", "grants_sent"), 0u) << "n" << i;
    EXPECT_EQ(st->get("region", "rejected"), 0u);
  }
  EXPECT_EQ(nodes.terminate("n1"), 0);
  EXPECT_EQ(nodes.terminate("n2"), 0);
}

// The same over veths: three hosts in network namespaces, the boot in the
// first, the nodes in the others; control planes on unix sockets so the test
// can ask them from the root namespace.
TEST(Spread, ConfigBootAcrossNetworkNamespaces) {
  if (!have_busybox()) GTEST_SKIP() << "no /bin/busybox (busybox-static)";
  std::string why;
  auto lab = NetnsLab::Create(3, &why);
  if (!lab) GTEST_SKIP() << "network namespace test skipped: " << why;
  TempDir dir;
  std::string text =
      "[cluster]\nname = \"spread-ns\"\nsecret = \"spread-ns-secret\"\n[guest]\nmemory = "
      "\"48MiB\"\n";
  for (int i = 0; i < 3; ++i) {
    text += fmt::format(
        "[[node]]\nname = \"n{}\"\naddress = \"{}:7700\"\nmemory = \"16MiB\"\ncontrol = "
        "\"unix:{}\"\n{}",
        i, lab->address(i), dir.file(fmt::format("n{}.sock", i)), i == 0 ? "primary = true\n" : "");
  }
  dir.write("cluster.toml", text);
  dir.write("script.sh", kScript + "\n");
  std::string config = dir.file("cluster.toml");
  auto parsed = node::load_config(config);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  Nodes nodes;
  nodes.start("n1", config, dir.file("n1.log"), lab->ns(1));
  nodes.start("n2", config, dir.file("n2.log"), lab->ns(2));
  int status = sh(fmt::format(
      "timeout 100 ip netns exec {} {} boot --config {} root=/dev/root rootfstype=hostfs "
      "rootflags=/ -- /bin/busybox sh {} > {} 2> {} < /dev/null",
      lab->ns(0), pangaea_binary(), config, dir.file("script.sh"), dir.file("out"),
      dir.file("err")));
  auto slurp = [&](const std::string& name) {
    std::ifstream in(dir.file(name));
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  ASSERT_EQ(status, 0) << slurp("out") << slurp("err");
  EXPECT_EQ(slurp("out"), native_output()) << slurp("err");
  for (int i = 1; i < 3; ++i) {
    auto st = stats_of(nodes, parsed->nodes[static_cast<size_t>(i)]);
    ASSERT_TRUE(st.ok()) << st.error().message();
    EXPECT_GT(st->get("region", "grants_sent"), 0u) << "n" << i;
    EXPECT_EQ(st->get("region", "rejected"), 0u);
  }
  EXPECT_EQ(nodes.terminate("n1"), 0);
  EXPECT_EQ(nodes.terminate("n2"), 0);
}

TEST(Spread, ConfigBootWithoutPeersFailsClearly) {
  if (!have_busybox()) GTEST_SKIP() << "no /bin/busybox (busybox-static)";
  TempDir dir;
  int base = 28000 + (getpid() % 500) * 8;
  std::string text = "[cluster]\nname = \"alone\"\nsecret = \"s\"\n";
  for (int i = 0; i < 2; ++i) {
    text +=
        fmt::format("[[node]]\nname = \"n{}\"\naddress = \"127.0.0.1:{}\"\nmemory = \"8MiB\"\n{}",
                    i, base + 2 * i, i == 0 ? "primary = true\n" : "");
  }
  dir.write("cluster.toml", text);
  // A short wait for the peers is not a flag; the default (20 s) is the bound.
  RunResult r = run_pangaea({"boot", "--config", dir.file("cluster.toml"), "root=/dev/root",
                             "rootfstype=hostfs", "rootflags=/", "--", "/bin/true"},
                            60s);
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "nodes not up")) << r.err;
  EXPECT_TRUE(contains(r.err, "n1")) << r.err;
}

TEST(Spread, RunWithCommandPrintsItAndExitsZero) {
  if (!have_busybox()) GTEST_SKIP() << "no /bin/busybox (busybox-static)";
  RunResult r = run_pangaea({"run", "--", "echo", "hi"}, 110s);
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "\nhi\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "MemTotal:")) << r.out;
  EXPECT_TRUE(contains(r.out, "FETCHED")) << r.out;
}

TEST(Spread, RunExitStatusIsTheGuests) {
  if (!have_busybox()) GTEST_SKIP() << "no /bin/busybox (busybox-static)";
  RunResult r = run_pangaea({"run", "--", "sh", "-c", "exit 3"}, 110s);
  EXPECT_EQ(r.status, 3) << r.out << r.err;
}

}  // namespace
}  // namespace itest
