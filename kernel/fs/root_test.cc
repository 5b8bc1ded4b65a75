#include "kernel/fs/root.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace kernel::fs {
namespace {

namespace sfs = std::filesystem;

TEST(JoinGuestPath, Basics) {
  EXPECT_EQ(join_guest_path("/", "a/b"), "/a/b");
  EXPECT_EQ(join_guest_path("/x", "./a//b/."), "/x/a/b");
  EXPECT_EQ(join_guest_path("/x", "/abs"), "/abs");
  EXPECT_EQ(join_guest_path("/x", "../y"), "/x/../y");  // ".." is left to the resolver
  EXPECT_EQ(join_guest_path("/", "/"), "/");
  EXPECT_EQ(join_guest_path("/", "dir/"), "/dir/");
}

// A host tree: <tmp>/outside/secret and <tmp>/root/{etc/passwd, links...}.
class RootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pangaea-root-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    sfs::create_directories(base_ / "outside");
    sfs::create_directories(base_ / "root/etc");
    sfs::create_directories(base_ / "root/sub/deeper");
    std::ofstream(base_ / "outside/secret") << "host secret";
    std::ofstream(base_ / "root/etc/passwd") << "guest passwd";
    std::ofstream(base_ / "root/secret") << "guest secret";
    sfs::create_symlink("/secret", base_ / "root/abs_link");
    sfs::create_symlink("../../../../../../outside/secret", base_ / "root/sub/up_link");
    sfs::create_symlink((base_ / "outside").string(), base_ / "root/host_abs_dir");
    sfs::create_symlink("/proc/self/root/etc/passwd", base_ / "root/magic");
    auto r = Root::open((base_ / "root").string());
    ASSERT_TRUE(r.ok());
    root_.emplace(std::move(*r));
  }
  void TearDown() override { sfs::remove_all(base_); }

  std::string read(const std::string& guest_path) {
    auto fd = root_->open_path(guest_path, O_RDONLY);
    if (!fd.ok()) return "errno " + std::to_string(fd.error().code);
    char buf[64] = {};
    ssize_t n = ::read(fd->get(), buf, sizeof(buf) - 1);
    return std::string(buf, n > 0 ? n : 0);
  }

  sfs::path base_;
  std::optional<Root> root_;
};

TEST_F(RootTest, OrdinaryPaths) {
  EXPECT_EQ(read("/etc/passwd"), "guest passwd");
  EXPECT_EQ(read("/sub/deeper/../../etc/passwd"), "guest passwd");
}

TEST_F(RootTest, DotDotStopsAtTheRoot) {
  EXPECT_EQ(read("/../../../../outside/secret"), "errno " + std::to_string(ENOENT));
  EXPECT_EQ(read("/../../../../etc/passwd"), "guest passwd");
  EXPECT_EQ(read("/../secret"), "guest secret");
}

TEST_F(RootTest, SymlinksResolveInsideTheRoot) {
  EXPECT_EQ(read("/abs_link"), "guest secret");  // "/secret" of the guest
  EXPECT_NE(read("/sub/up_link"), "host secret");
  // An absolute link naming a real host directory names the guest's instead.
  EXPECT_NE(read("/host_abs_dir/secret"), "host secret");
}

TEST_F(RootTest, MagicLinksRefused) { EXPECT_NE(read("/magic"), "guest passwd"); }

TEST_F(RootTest, GuestPathOfAnOpenFd) {
  auto fd = root_->open_path("/sub/deeper/..", O_PATH | O_DIRECTORY);
  ASSERT_TRUE(fd.ok());
  auto g = root_->guest_path_of(fd->get());
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(*g, "/sub");
  auto rootfd = root_->open_path("/", O_PATH | O_DIRECTORY);
  ASSERT_TRUE(rootfd.ok());
  EXPECT_EQ(*root_->guest_path_of(rootfd->get()), "/");
}

TEST_F(RootTest, OpenParentSplitsTheLastComponent) {
  auto r = root_->open_parent("/sub/deeper/newfile");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->second, "newfile");
  EXPECT_EQ(*root_->guest_path_of(r->first.get()), "/sub/deeper");
}

}  // namespace
}  // namespace kernel::fs

namespace kernel::fs {
namespace {

TEST(RootHostObjects, HostProcAndDevicesAreRefusedEvenWithRootSlash) {
  auto root = Root::open("/");
  ASSERT_TRUE(root.ok());
  EXPECT_FALSE(root->open_path("/proc/self/mem", O_RDWR).ok());
  EXPECT_FALSE(root->open_path("/proc/self/status", O_RDONLY).ok());
  EXPECT_FALSE(root->open_path("/proc", O_RDONLY | O_DIRECTORY).ok());
  EXPECT_FALSE(root->open_path("/sys/kernel", O_RDONLY | O_DIRECTORY).ok());
  EXPECT_TRUE(root->open_path("/sys", O_PATH).ok());        // may be looked at (stat), not read
  EXPECT_FALSE(root->open_path("/dev/null", O_RDWR).ok());  // the host's node
  EXPECT_TRUE(root->open_path("/dev", O_PATH | O_DIRECTORY).ok());
  EXPECT_TRUE(root->open_path("/etc/hostname", O_RDONLY).ok() ||
              root->open_path("/etc/passwd", O_RDONLY).ok());
}

TEST_F(RootTest, SymlinkToHostProcIsRefused) {
  sfs::create_symlink("/proc/self/mem", base_ / "root/mem_link");
  sfs::create_directories(base_ / "root/proc");
  EXPECT_FALSE(root_->open_path("/mem_link", O_RDWR).ok());
}

}  // namespace
}  // namespace kernel::fs
