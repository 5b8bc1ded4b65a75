#include "kernel/mm/memory_manager.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

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

TEST(MemoryManager, ForkIsCopyOnWrite) {
  TestMemory t;
  auto mm = t.new_mm();
  ASSERT_TRUE(mm->mmap(0x500000, 4 * 4096, kRW, kAnon | MAP_FIXED, nullptr, 0).ok());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(mm->copy_out(0x500000 + i * 4096, &i, sizeof(i)).ok());
  uint64_t before = t.alloc().used();
  auto child = mm->fork(nullptr);
  ASSERT_TRUE(child.ok());
  EXPECT_EQ(t.alloc().used(), before);  // nothing copied at fork
  EXPECT_EQ(*(*child)->peek_frame(0x501000), *mm->peek_frame(0x501000));
  int v = 100;
  ASSERT_TRUE((*child)->copy_out(0x501000, &v, sizeof(v)).ok());
  EXPECT_EQ(t.alloc().used(), before + 1);  // the written page only
  EXPECT_NE(*(*child)->peek_frame(0x501000), *mm->peek_frame(0x501000));
  // Asking for a cow page's frame (a futex key) gives it its own.
  EXPECT_EQ(*(*child)->peek_frame(0x503000), *mm->peek_frame(0x503000));
  EXPECT_NE(*(*child)->frame_of(0x503000), *mm->peek_frame(0x503000));
  int back = 0;
  ASSERT_TRUE(mm->copy_in(0x501000, &back, sizeof(back)).ok());
  EXPECT_EQ(back, 1);
  ASSERT_TRUE((*child)->copy_in(0x502000, &back, sizeof(back)).ok());
  EXPECT_EQ(back, 2);  // unwritten pages read the parent's data
  // Once the child is gone, the parent's write keeps its frame (no copy).
  uint64_t frame = *mm->frame_of(0x502000);
  child->reset();
  v = 7;
  ASSERT_TRUE(mm->copy_out(0x502000, &v, sizeof(v)).ok());
  EXPECT_EQ(*mm->frame_of(0x502000), frame);
  mm.reset();
  EXPECT_EQ(t.alloc().used(), 0u);
}

TEST(MemoryManager, ManyForksKeepEveryCopyApart) {
  TestMemory t;
  auto mm = t.new_mm();
  ASSERT_TRUE(mm->mmap(0x500000, 4096, kRW, kAnon | MAP_FIXED, nullptr, 0).ok());
  int v = -1;
  ASSERT_TRUE(mm->copy_out(0x500000, &v, sizeof(v)).ok());
  std::vector<std::unique_ptr<MemoryManager>> kids;
  for (int i = 0; i < 20; ++i) {
    auto c = (i % 2 ? kids.back() : mm)->fork(nullptr);  // forks of forks too
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE((*c)->copy_out(0x500000, &i, sizeof(i)).ok());
    kids.push_back(std::move(*c));
  }
  for (int i = 0; i < 20; ++i) {
    int back = 0;
    ASSERT_TRUE(kids[i]->copy_in(0x500000, &back, sizeof(back)).ok());
    EXPECT_EQ(back, i);
  }
  int back = 0;
  ASSERT_TRUE(mm->copy_in(0x500000, &back, sizeof(back)).ok());
  EXPECT_EQ(back, -1);
  kids.clear();
  mm.reset();
  EXPECT_EQ(t.alloc().used(), 0u);
}

TEST(MemoryManager, SharedAnonymousPagesUntouchedBeforeForkAreShared) {
  TestMemory t;
  auto mm = t.new_mm();
  ASSERT_TRUE(
      mm->mmap(0x500000, 2 * 4096, kRW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, nullptr, 0).ok());
  auto child = mm->fork(nullptr);
  ASSERT_TRUE(child.ok());
  int v = 5;
  ASSERT_TRUE((*child)->copy_out(0x501000, &v, sizeof(v)).ok());
  int back = 0;
  ASSERT_TRUE(mm->copy_in(0x501000, &back, sizeof(back)).ok());
  EXPECT_EQ(back, 5);
}

class TempFile {
 public:
  explicit TempFile(const std::string& data) {
    char tmpl[] = "/tmp/pangaea-mm-test-XXXXXX";
    fd_ = ::mkstemp(tmpl);
    path_ = tmpl;
    EXPECT_EQ(::write(fd_, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  }
  ~TempFile() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  std::shared_ptr<base::UniqueFd> open() const {
    return std::make_shared<base::UniqueFd>(::open(path_.c_str(), O_RDWR | O_CLOEXEC));
  }
  std::string read_back(size_t n) const {
    std::string s(n, '\0');
    EXPECT_EQ(::pread(fd_, s.data(), n, 0), static_cast<ssize_t>(n));
    return s;
  }

 private:
  int fd_ = -1;
  std::string path_;
};

TEST(MemoryManager, SharedFileMappingsShareFramesAndWriteBack) {
  TestMemory t;
  TempFile f(std::string(6000, 'a'));
  auto a = t.new_mm();
  auto b = t.new_mm();
  constexpr int kShared = MAP_SHARED | MAP_FIXED;
  ASSERT_TRUE(a->mmap(0x500000, 8192, kRW, kShared, f.open(), 0).ok());
  ASSERT_TRUE(b->mmap(0x700000, 4096, kRW, kShared, f.open(), 4096).ok());  // second page
  char c = 0;
  ASSERT_TRUE(b->copy_in(0x700000, &c, 1).ok());
  EXPECT_EQ(c, 'a');
  ASSERT_TRUE(a->copy_out(0x501000 + 10, "XY", 2).ok());
  char two[2];
  ASSERT_TRUE(b->copy_in(0x700000 + 10, two, 2).ok());  // seen at once, no write-back
  EXPECT_EQ(std::string(two, 2), "XY");
  EXPECT_EQ(*a->frame_of(0x501000), *b->frame_of(0x700000));
  EXPECT_EQ(f.read_back(6000).substr(4096 + 10, 2), "aa");  // not written back yet
  ASSERT_TRUE(a->msync(0x500000, 8192).ok());
  EXPECT_EQ(f.read_back(6000).substr(4096 + 10, 2), "XY");
  // munmap writes back too; the file does not grow past its size.
  ASSERT_TRUE(b->copy_out(0x700000 + 1000, "Z", 1).ok());
  ASSERT_TRUE(b->munmap(0x700000, 4096).ok());
  EXPECT_EQ(f.read_back(6000)[4096 + 1000], 'Z');
  struct stat st;
  ASSERT_TRUE(::fstat(a->vmas().begin()->second.file->get(), &st) == 0);
  EXPECT_EQ(st.st_size, 6000);
  a.reset();
  b.reset();
  EXPECT_EQ(t.alloc().used(), 0u);
  EXPECT_EQ(t.alloc().shared_files().size(), 0u);
}

TEST(FrameAllocator, ReusedFramesComeBackInAscendingRuns) {
  FrameAllocator a(8);
  std::vector<uint64_t> got;
  for (int i = 0; i < 8; ++i) got.push_back(*a.allocate());
  for (int i = 7; i >= 0; --i) a.unref(got[i]);  // freed in any order
  bool zeroed = true;
  uint64_t first = *a.allocate(&zeroed);
  EXPECT_FALSE(zeroed);  // used before: must be cleared by the caller
  EXPECT_EQ(first, 0u);
  EXPECT_EQ(*a.allocate(), 1u);
  EXPECT_EQ(*a.allocate(), 2u);
}

TEST(FrameAllocator, FreedFramesAreReusedBeforeFreshOnes) {
  FrameAllocator a(8);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(*a.allocate(), static_cast<uint64_t>(i));
  a.unref(2);
  a.unref(1);
  bool zeroed = true;
  EXPECT_EQ(*a.allocate(&zeroed), 1u);  // host page exists already: reused first
  EXPECT_FALSE(zeroed);
  EXPECT_EQ(*a.allocate(&zeroed), 2u);
  EXPECT_FALSE(zeroed);
  EXPECT_EQ(*a.allocate(&zeroed), 4u);  // then fresh frames, known zero
  EXPECT_TRUE(zeroed);
  EXPECT_EQ(a.used(), 5u);
}

}  // namespace
}  // namespace kernel::mm
