#include "kernel/mm/memory_manager.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>

#include "kernel/mm/test_memory.h"

namespace kernel::mm {
namespace {

constexpr int kRW = PROT_READ | PROT_WRITE;
constexpr int kAnon = MAP_PRIVATE | MAP_ANONYMOUS;

TEST(MemoryManager, MmapPicksFreeSpaceTopDownAndCopiesWork) {
  TestMemory t;
  auto mm = t.new_mm();
  auto a = mm->mmap(0, 3 * 4096, kRW, kAnon, nullptr, 0);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, kMmapTop - 3 * 4096);
  auto b = mm->mmap(0, 4096, kRW, kAnon, nullptr, 0);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, *a - 4096);
  const char msg[] = "across a page boundary";
  ASSERT_TRUE(mm->copy_out(*a + 4096 - 5, msg, sizeof(msg)).ok());
  char back[sizeof(msg)];
  ASSERT_TRUE(mm->copy_in(*a + 4096 - 5, back, sizeof(back)).ok());
  EXPECT_STREQ(back, msg);
  auto s = mm->copy_in_string(*a + 4096 - 5, 100);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, msg);
  EXPECT_EQ(mm->resident_pages(), 2u);  // only touched pages have frames
}

TEST(MemoryManager, BadAddressesAreEfault) {
  TestMemory t;
  auto mm = t.new_mm();
  char c;
  EXPECT_EQ(mm->copy_in(0, &c, 1).error(), base::Errno(EFAULT));
  EXPECT_EQ(mm->copy_in(~0ull - 2, &c, 8).error(), base::Errno(EFAULT));
  auto ro = mm->mmap(0x100000, 4096, PROT_READ, kAnon | MAP_FIXED, nullptr, 0);
  ASSERT_TRUE(ro.ok());
  EXPECT_EQ(mm->copy_out(0x100000, &c, 1).error(), base::Errno(EFAULT));
  EXPECT_TRUE(mm->copy_out(0x100000, &c, 1, /*force=*/true).ok());
  ASSERT_TRUE(mm->copy_out(0x100000 + 4095, "x", 1, /*force=*/true).ok());
  EXPECT_EQ(mm->copy_in_string(0x100000 + 4095, 10).error(), base::Errno(EFAULT));  // runs off
}

TEST(MemoryManager, MmapValidation) {
  TestMemory t;
  auto mm = t.new_mm();
  EXPECT_EQ(mm->mmap(0, 0, kRW, kAnon, nullptr, 0).error(), base::Errno(EINVAL));
  EXPECT_EQ(mm->mmap(0x100001, 4096, kRW, kAnon | MAP_FIXED, nullptr, 0).error(),
            base::Errno(EINVAL));
  EXPECT_EQ(mm->mmap(0, ~0ull - 100, kRW, kAnon, nullptr, 0).error(), base::Errno(ENOMEM));
  EXPECT_EQ(mm->mmap(platform::kGuestTop, 4096, kRW, kAnon | MAP_FIXED, nullptr, 0).error(),
            base::Errno(ENOMEM));
  ASSERT_TRUE(mm->mmap(0x200000, 4096, kRW, kAnon | MAP_FIXED, nullptr, 0).ok());
  EXPECT_EQ(mm->mmap(0x200000, 4096, kRW, kAnon | MAP_FIXED_NOREPLACE, nullptr, 0).error(),
            base::Errno(EEXIST));
}

TEST(MemoryManager, MunmapFreesFramesAndSplits) {
  TestMemory t;
  auto mm = t.new_mm();
  ASSERT_TRUE(mm->mmap(0x300000, 3 * 4096, kRW, kAnon | MAP_FIXED, nullptr, 0).ok());
  char c = 1;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(mm->copy_out(0x300000 + i * 4096, &c, 1).ok());
  EXPECT_EQ(t.alloc().used(), 3u);
  ASSERT_TRUE(mm->munmap(0x301000, 4096).ok());
  EXPECT_EQ(t.alloc().used(), 2u);
  EXPECT_EQ(mm->vmas().size(), 2u);
  EXPECT_FALSE(mm->copy_in(0x301000, &c, 1).ok());
  EXPECT_TRUE(mm->copy_in(0x302000, &c, 1).ok());
}

TEST(MemoryManager, MprotectSplitsAndChecksMapping) {
  TestMemory t;
  auto mm = t.new_mm();
  ASSERT_TRUE(mm->mmap(0x400000, 2 * 4096, kRW, kAnon | MAP_FIXED, nullptr, 0).ok());
  ASSERT_TRUE(mm->mprotect(0x401000, 4096, PROT_READ).ok());
  char c = 0;
  EXPECT_TRUE(mm->copy_out(0x400000, &c, 1).ok());
  EXPECT_FALSE(mm->copy_out(0x401000, &c, 1).ok());
  EXPECT_EQ(mm->mprotect(0x401000, 2 * 4096, PROT_READ).error(), base::Errno(ENOMEM));
}

TEST(MemoryManager, BrkGrowsAndShrinks) {
  TestMemory t;
  auto mm = t.new_mm();
  mm->set_brk_base(0x600000);
  EXPECT_EQ(*mm->brk(0), 0x600000u);
  EXPECT_EQ(*mm->brk(0x600000 + 5000), 0x600000u + 5000);
  char c = 7;
  EXPECT_TRUE(mm->copy_out(0x600000 + 4999, &c, 1).ok());
  EXPECT_EQ(*mm->brk(0x600000 + 100), 0x600000u + 100);
  EXPECT_FALSE(mm->copy_out(0x601000, &c, 1).ok());
}

TEST(MemoryManager, MremapGrowsInPlaceOrMovesKeepingContents) {
  TestMemory t;
  auto mm = t.new_mm();
  ASSERT_TRUE(mm->mmap(0x700000, 2 * 4096, kRW, kAnon | MAP_FIXED, nullptr, 0).ok());
  int v = 42;
  ASSERT_TRUE(mm->copy_out(0x701000, &v, sizeof(v)).ok());
  auto r = mm->mremap(0x700000, 2 * 4096, 4 * 4096, 0, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 0x700000u);  // grown in place
  ASSERT_TRUE(mm->mmap(0x704000, 4096, kRW, kAnon | MAP_FIXED, nullptr, 0).ok());
  EXPECT_EQ(mm->mremap(0x700000, 4 * 4096, 8 * 4096, 0, 0).error(), base::Errno(ENOMEM));
  uint64_t frames = t.alloc().used();
  r = mm->mremap(0x700000, 4 * 4096, 8 * 4096, 1 /* MAYMOVE */, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_NE(*r, 0x700000u);
  int back = 0;
  ASSERT_TRUE(mm->copy_in(*r + 4096, &back, sizeof(back)).ok());
  EXPECT_EQ(back, 42);
  EXPECT_EQ(t.alloc().used(), frames);  // moved, not copied
  EXPECT_FALSE(mm->copy_in(0x701000, &back, sizeof(back)).ok());
  r = mm->mremap(*r, 8 * 4096, 4096, 0, 0);  // shrink
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(mm->mremap(0x900000, 4096, 8192, 1, 0).error(), base::Errno(EFAULT));
}

TEST(MemoryManager, ForkCopiesPrivateAndSharesShared) {
  TestMemory t;
  auto mm = t.new_mm();
  ASSERT_TRUE(mm->mmap(0x500000, 4096, kRW, kAnon | MAP_FIXED, nullptr, 0).ok());
  ASSERT_TRUE(
      mm->mmap(0x501000, 4096, kRW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, nullptr, 0).ok());
  int v = 1;
  ASSERT_TRUE(mm->copy_out(0x500000, &v, sizeof(v)).ok());
  ASSERT_TRUE(mm->copy_out(0x501000, &v, sizeof(v)).ok());
  auto child = mm->fork(nullptr);
  ASSERT_TRUE(child.ok());
  v = 2;
  ASSERT_TRUE((*child)->copy_out(0x500000, &v, sizeof(v)).ok());
  ASSERT_TRUE((*child)->copy_out(0x501000, &v, sizeof(v)).ok());
  int back = 0;
  ASSERT_TRUE(mm->copy_in(0x500000, &back, sizeof(back)).ok());
  EXPECT_EQ(back, 1);  // private: the parent keeps its value
  ASSERT_TRUE(mm->copy_in(0x501000, &back, sizeof(back)).ok());
  EXPECT_EQ(back, 2);  // shared: one frame
  child->reset();
  mm.reset();
  EXPECT_EQ(t.alloc().used(), 0u);
}

}  // namespace
}  // namespace kernel::mm
