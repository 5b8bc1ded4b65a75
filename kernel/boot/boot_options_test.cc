#include "kernel/boot/boot_options.h"

#include <gtest/gtest.h>

namespace kernel::boot {
namespace {

using V = std::vector<std::string>;

TEST(BootOptions, UmlLine) {
  auto o = parse_boot_args(V{"mem=128M", "umid=test", "root=/dev/root", "rootfstype=hostfs",
                             "rootflags=/srv/root", "rw", "quiet", "con0=fd:0,fd:1", "init=/bin/sh",
                             "FOO=bar", "single-word"});
  ASSERT_TRUE(o.ok()) << o.error().message();
  EXPECT_EQ(o->memory_bytes, 128ull << 20);
  EXPECT_EQ(o->umid, "test");
  EXPECT_EQ(o->root_dir, "/srv/root");
  EXPECT_EQ(o->init, "/bin/sh");
  EXPECT_EQ(o->console_out, 1);
  EXPECT_EQ(o->console_err, 1);  // UML: one console for 0, 1 and 2
  EXPECT_EQ(o->init_env, V{"FOO=bar"});
  EXPECT_EQ(o->init_argv, V{"single-word"});
}

TEST(BootOptions, CommandAfterDashDash) {
  auto o = parse_boot_args(V{"rootflags=/", "--strace", "--", "/bin/busybox", "sh", "-c", "x=1"});
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->strace);
  EXPECT_EQ(o->init, "/bin/busybox");
  EXPECT_EQ(o->init_argv, (V{"sh", "-c", "x=1"}));
  EXPECT_TRUE(o->init_env.empty());
}

TEST(BootOptions, InitGetsArgsAfterDashDash) {
  auto o = parse_boot_args(V{"rootflags=/", "init=/bin/sh", "--", "-c", "echo"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->init, "/bin/sh");
  EXPECT_EQ(o->init_argv, (V{"-c", "echo"}));
}

TEST(BootOptions, Errors) {
  EXPECT_FALSE(parse_boot_args(V{"mem=12XB", "rootflags=/"}).ok());
  EXPECT_FALSE(parse_boot_args(V{"mem=1K", "rootflags=/"}).ok());
  EXPECT_FALSE(parse_boot_args(V{"rootfstype=ext4", "rootflags=/"}).ok());
  EXPECT_FALSE(parse_boot_args(V{"root=/dev/ubda", "rootflags=/"}).ok());
  EXPECT_FALSE(parse_boot_args(V{"init=/bin/sh"}).ok());  // no root
  EXPECT_FALSE(parse_boot_args(V{"rootflags=/", "--bogus"}).ok());
  EXPECT_FALSE(parse_boot_args(V{"rootflags=/", "con0=pty"}).ok());
  EXPECT_FALSE(parse_boot_args(V{"rootflags=/", "--local-nodes", "zero"}).ok());
}

TEST(BootOptions, DistributedFlagsAreAcceptedAndReported) {
  auto o = parse_boot_args(V{"--local-nodes", "3", "rootflags=/", "ubd0=x.img"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->local_nodes, 3);
  EXPECT_EQ(o->notes.size(), 1u);  // ubd0=; --local-nodes is served by tools/cluster_boot
}

TEST(BootOptions, SyscallTableNeedsNoRoot) {
  auto o = parse_boot_args(V{"--syscall-table=docs/syscalls.md"});
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->print_syscall_table);
  EXPECT_EQ(o->syscall_table, "docs/syscalls.md");
}

}  // namespace
}  // namespace kernel::boot
