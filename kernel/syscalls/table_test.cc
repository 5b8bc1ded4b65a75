#include "kernel/syscalls/table.h"

#include <gtest/gtest.h>
#include <sys/syscall.h>

#include <set>
#include <string>

namespace kernel::syscalls {
namespace {

TEST(SyscallTable, NumbersAscendingAndNamesUnique) {
  std::set<std::string> names;
  int last = -1;
  for (const auto& s : all_syscalls()) {
    EXPECT_GT(s.nr, last);
    last = s.nr;
    EXPECT_TRUE(names.insert(s.name).second) << s.name;
  }
  EXPECT_GE(all_syscalls().size(), 360u);
}

TEST(SyscallTable, EveryImplementedNameIsARealSyscall) {
  EXPECT_TRUE(unmatched_table_names().empty()) << unmatched_table_names().front();
}

TEST(SyscallTable, KnownEntries) {
  const SyscallInfo* w = find_syscall(SYS_write);
  ASSERT_NE(w, nullptr);
  EXPECT_STREQ(w->name, "write");
  EXPECT_NE(w->handler, nullptr);
  EXPECT_EQ(w->support, Support::kSupported);
  const SyscallInfo* rseq = find_syscall(SYS_rseq);
  ASSERT_NE(rseq, nullptr);
  EXPECT_EQ(rseq->handler, nullptr);
  EXPECT_EQ(rseq->support, Support::kNone);
  // Partial entries say why.
  for (const auto& s : all_syscalls()) {
    if (s.support == Support::kPartial) {
      EXPECT_STRNE(s.note, "") << s.name;
    }
  }
  // Handlers exist exactly for supported/partial entries.
  for (const auto& s : all_syscalls())
    EXPECT_EQ(s.handler != nullptr, s.support != Support::kNone) << s.name;
}

TEST(SyscallTable, UnknownNumbersHaveNoEntry) {
  EXPECT_EQ(find_syscall(100000), nullptr);
  EXPECT_EQ(find_syscall(~0ull), nullptr);
  EXPECT_EQ(find_syscall(400), nullptr);  // a gap in the x86-64 numbering
}

TEST(SyscallTable, MarkdownListsEverySyscall) {
  std::string md = syscall_table_markdown();
  for (const auto& s : all_syscalls())
    EXPECT_NE(md.find(std::string("| ") + s.name + " |"), std::string::npos) << s.name;
}

}  // namespace
}  // namespace kernel::syscalls
