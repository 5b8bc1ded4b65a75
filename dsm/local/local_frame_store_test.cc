#include "dsm/local/local_frame_store.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>

namespace dsm {
namespace {

TEST(LocalFrameStore, MemfdHasAllFramesAndStartsZero) {
  auto store = LocalFrameStore::Create(16);
  ASSERT_TRUE(store.ok());
  struct stat st;
  ASSERT_EQ(fstat((*store)->memfd(), &st), 0);
  EXPECT_EQ(st.st_size, 16 * 4096);
  EXPECT_EQ((*store)->frame_count(), 16u);
  void* p = mmap(nullptr, 16 * 4096, PROT_READ, MAP_SHARED, (*store)->memfd(), 0);
  ASSERT_NE(p, MAP_FAILED);
  EXPECT_EQ(static_cast<char*>(p)[5 * 4096 + 7], 0);
  munmap(p, 16 * 4096);
}

TEST(LocalFrameStore, MakePresentChecksBounds) {
  auto store = LocalFrameStore::Create(4);
  ASSERT_TRUE(store.ok());
  EXPECT_TRUE((*store)->make_present(0, 4, Access::kWrite).ok());
  EXPECT_FALSE((*store)->make_present(3, 2, Access::kRead).ok());
  EXPECT_FALSE((*store)->make_present(~0ull, 2, Access::kRead).ok());
}

TEST(LocalFrameStore, AnyInBoundsRangeMayBePrefaulted) {
  auto store = LocalFrameStore::Create(4);
  ASSERT_TRUE(store.ok());
  EXPECT_TRUE((*store)->host_prefault_ok(0, 4));
  EXPECT_TRUE((*store)->host_prefault_ok(3, 1));
  EXPECT_FALSE((*store)->host_prefault_ok(3, 2));
  EXPECT_FALSE((*store)->host_prefault_ok(~0ull, 2));
}

TEST(LocalFrameStore, ZeroFramesRefused) { EXPECT_FALSE(LocalFrameStore::Create(0).ok()); }

}  // namespace
}  // namespace dsm
