#include "node/page_store.h"

#include <sys/mman.h>

#include <sys/stat.h>

#include <set>

#include <gtest/gtest.h>

namespace node {
namespace {

TEST(PageStore, RefusesBadSizes) {
  EXPECT_FALSE(PageStore::Create(0, "t").ok());
  EXPECT_FALSE(PageStore::Create(4097, "t").ok());
}

TEST(PageStore, MemfdHasConfiguredSize) {
  auto store = PageStore::Create(16 * 4096, "t");
  ASSERT_TRUE(store.ok()) << store.error().message();
  struct stat st;
  ASSERT_EQ(fstat((*store)->fd(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), 16u * 4096);
  EXPECT_EQ((*store)->size(), 16u * 4096);
  EXPECT_EQ((*store)->page_count(), 16u);
  EXPECT_EQ((*store)->used(), 0u);
}

TEST(PageStore, AllocatesEveryPageOnceThenRefuses) {
  auto store = std::move(PageStore::Create(4 * 4096, "t").value());
  std::set<uint64_t> seen;
  for (int i = 0; i < 4; ++i) {
    auto p = store->allocate();
    ASSERT_TRUE(p.ok());
    EXPECT_LT(*p, 4u);
    EXPECT_TRUE(seen.insert(*p).second);
  }
  EXPECT_EQ(store->used(), 4u * 4096);
  auto full = store->allocate();
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code(), ENOMEM);
}

TEST(PageStore, ReleasedPageIsReusedAndZeroed) {
  auto store = std::move(PageStore::Create(2 * 4096, "t").value());
  uint64_t a = store->allocate().value();
  uint64_t b = store->allocate().value();
  store->page(a)[0] = std::byte{0x5a};
  store->page(b)[1] = std::byte{0x33};
  store->release(a);
  EXPECT_EQ(store->used(), 4096u);
  uint64_t c = store->allocate().value();
  EXPECT_EQ(c, a);
  EXPECT_EQ(store->page(c)[0], std::byte{0});
  EXPECT_EQ(store->page(b)[1], std::byte{0x33});  // the neighbour is untouched
}

TEST(PageStore, HomeSpanLiesBeyondThePagesAndIsSparse) {
  auto store = std::move(PageStore::Create(2 * 4096, "t").value());
  auto offset = store->add_home_span(16 * 4096);
  ASSERT_TRUE(offset.ok());
  EXPECT_EQ(*offset, 2u * 4096);
  EXPECT_EQ(store->resident_bytes(), 0u);
  // The span can be written through another mapping of the memfd, as the
  // region maps it, and counts as resident then.
  void* p = mmap(nullptr, 16 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, store->fd(),
                 static_cast<off_t>(*offset));
  ASSERT_NE(p, MAP_FAILED);
  static_cast<char*>(p)[5 * 4096] = 1;
  EXPECT_EQ(store->resident_bytes(), 4096u);
  munmap(p, 16 * 4096);
  EXPECT_FALSE(store->add_home_span(4096).ok());  // once only
  EXPECT_EQ(store->page_count(), 2u);             // allocate() never hands it out
}

}  // namespace
}  // namespace node
