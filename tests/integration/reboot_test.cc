// A second boot on the same long-running nodes (docs/spread.md "A second
// boot"): `pangaea node` n1 and n2 keep running while the primary boots a
// guest, exits, and boots again, at once and after its peers declared it
// dead. Each guest must start from empty memory: it checks that 24 MiB of
// fresh anonymous memory reads zero, then fills it, so a leak of the
// previous guest's pages (or frames lost with the old primary) shows.

#include <unistd.h>

#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "node/membership.h"
#include "tests/integration/harness.h"

namespace itest {
namespace {

TEST(Reboot, EachBootOnTheSameNodesStartsFromEmptyMemory) {
  TempDir dir;
  // 48 MiB of guest memory over three nodes of 16 MiB: most of the guest's
  // 24 MiB is homed on n1 and n2, and the primary evicts.
  std::string text = "[cluster]\nname = \"reboot\"\nsecret = \"reboot-secret\"\n";
  int port = 20000 + (getpid() * 37) % 30000;
  for (int i = 0; i < 3; ++i) {
    while (!tcp_port_free(static_cast<uint16_t>(port))) port += 2;
    text += fmt::format(
        "[[node]]\nname = \"n{}\"\naddress = \"127.0.0.1:{}\"\nmemory = \"16MiB\"\ncontrol = "
        "\"unix:{}\"\n{}",
        i, port, dir.file(fmt::format("n{}.sock", i)), i == 0 ? "primary = true\n" : "");
    port += 2;
  }
  dir.write("cluster.toml", text);
  const std::string config = dir.file("cluster.toml");
  auto parsed = node::load_config(config);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  Nodes nodes;
  nodes.start("n1", config, dir.file("n1.log"));
  nodes.start("n2", config, dir.file("n2.log"));
  auto boot = [&] {
    return run_pangaea({"boot", "--config", config, "root=/dev/root", "rootfstype=hostfs",
                        "rootflags=/", "--", PANGAEA_REBOOT_GUEST},
                       90s);
  };
  auto logs = [&] { return node_logs(dir, 3); };
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(fmt::format("boot {}", round + 1));
    if (round == 2) {
      // Once after the peers declared the old primary dead, too.
      std::this_thread::sleep_for(node::Membership::kDeadAfter + std::chrono::seconds(1));
    }
    RunResult r = boot();
    ASSERT_EQ(r.status, 0) << r.out << r.err << logs();
    EXPECT_EQ(r.out, "nonzero 0\n") << r.err;
  }
  for (int i = 1; i < 3; ++i) {
    auto st = nodes.stats(parsed->nodes[static_cast<size_t>(i)]);
    ASSERT_TRUE(st.ok()) << st.error().message();
    EXPECT_GT(st->get("region", "grants_sent"), 0u) << "n" << i;
    EXPECT_GE(st->get("transport", "restarts"), 1u) << "n" << i;
  }
  EXPECT_EQ(nodes.terminate("n1"), 0);
  EXPECT_EQ(nodes.terminate("n2"), 0);
}

}  // namespace
}  // namespace itest
