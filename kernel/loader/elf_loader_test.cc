#include "kernel/loader/elf_loader.h"

#include <elf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "kernel/mm/test_memory.h"

namespace kernel::loader {
namespace {

// A minimal static executable: one R+X PT_LOAD at 0x400000 covering the
// whole file, plus 8 KiB of bss.
std::vector<uint8_t> tiny_elf(uint16_t type = ET_EXEC) {
  std::vector<uint8_t> img(sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + 16, 0x90);
  Elf64_Ehdr eh = {};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = type;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  uint64_t base = type == ET_EXEC ? 0x400000 : 0;
  eh.e_entry = base + sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr);
  eh.e_phoff = sizeof(Elf64_Ehdr);
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = 1;
  Elf64_Phdr ph = {};
  ph.p_type = PT_LOAD;
  ph.p_flags = PF_R | PF_X;
  ph.p_offset = 0;
  ph.p_vaddr = ph.p_paddr = base;
  ph.p_filesz = img.size();
  ph.p_memsz = img.size() + 8192;
  ph.p_align = 4096;
  std::memcpy(img.data(), &eh, sizeof(eh));
  std::memcpy(img.data() + sizeof(eh), &ph, sizeof(ph));
  return img;
}

Elf64_Phdr* phdr(std::vector<uint8_t>& img) {
  return reinterpret_cast<Elf64_Phdr*>(img.data() + sizeof(Elf64_Ehdr));
}
Elf64_Ehdr* ehdr(std::vector<uint8_t>& img) { return reinterpret_cast<Elf64_Ehdr*>(img.data()); }

ExecArgs args() { return ExecArgs{{"prog", "arg1"}, {"HOME=/"}, "/bin/prog"}; }

base::Errno load_error(std::vector<uint8_t> img) {
  mm::TestMemory t;
  auto mm = t.new_mm();
  auto r = load_elf(*mm, img, args());
  return r.ok() ? base::Errno(0) : r.error();
}

TEST(ElfLoader, LoadsStaticAndBuildsTheStack) {
  mm::TestMemory t;
  auto mm = t.new_mm();
  auto img = tiny_elf();
  auto r = load_elf(*mm, img, args());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->entry, 0x400000 + sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr));
  EXPECT_EQ(r->stack_pointer % 16, 0u);
  EXPECT_EQ(r->brk, 0x400000 + 3 * 4096u);  // after the bss, page aligned
  // The image is in memory; the bss reads as zeros.
  uint8_t b[4];
  ASSERT_TRUE(mm->copy_in(0x400000, b, 4).ok());
  EXPECT_EQ(std::memcmp(b, ELFMAG, 4), 0);
  ASSERT_TRUE(mm->copy_in(0x400000 + img.size() + 100, b, 4).ok());
  EXPECT_EQ(b[0] | b[1] | b[2] | b[3], 0);
  // argc, argv, envp, auxv.
  uint64_t sp = r->stack_pointer;
  auto word = [&](int i) { return *mm->copy_in(mm::UserPtr<uint64_t>(sp) + i); };
  EXPECT_EQ(word(0), 2u);
  EXPECT_EQ(*mm->copy_in_string(word(1), 100), "prog");
  EXPECT_EQ(*mm->copy_in_string(word(2), 100), "arg1");
  EXPECT_EQ(word(3), 0u);
  EXPECT_EQ(*mm->copy_in_string(word(4), 100), "HOME=/");
  EXPECT_EQ(word(5), 0u);
  std::map<uint64_t, uint64_t> aux;
  for (int i = 6; word(i) != AT_NULL; i += 2) aux[word(i)] = word(i + 1);
  EXPECT_EQ(aux[AT_PAGESZ], 4096u);
  EXPECT_EQ(aux[AT_PHDR], 0x400000 + sizeof(Elf64_Ehdr));
  EXPECT_EQ(aux[AT_PHNUM], 1u);
  EXPECT_EQ(aux[AT_PHENT], sizeof(Elf64_Phdr));
  EXPECT_EQ(aux[AT_ENTRY], r->entry);
  EXPECT_EQ(aux[AT_CLKTCK], 100u);
  EXPECT_EQ(*mm->copy_in_string(aux[AT_EXECFN], 100), "/bin/prog");
  EXPECT_NE(aux[AT_RANDOM], 0u);
  EXPECT_NE(aux.count(AT_HWCAP), 0u);
}

TEST(ElfLoader, StaticPieGoesToThePieBase) {
  mm::TestMemory t;
  auto mm = t.new_mm();
  auto r = load_elf(*mm, tiny_elf(ET_DYN), args());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->entry, kPieBase + sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr));
}

TEST(ElfLoader, GarbageIsEnoexec) {
  const base::Errno enoexec(ENOEXEC);
  EXPECT_EQ(load_error({}), enoexec);
  EXPECT_EQ(load_error({'h', 'e', 'l', 'l', 'o'}), enoexec);
  std::vector<uint8_t> random(4096);
  for (size_t i = 0; i < random.size(); ++i) random[i] = static_cast<uint8_t>(i * 131 + 7);
  EXPECT_EQ(load_error(random), enoexec);
}

TEST(ElfLoader, TruncatedIsEnoexec) {
  auto img = tiny_elf();
  for (size_t n : {size_t{4}, sizeof(Elf64_Ehdr) - 1, sizeof(Elf64_Ehdr) + 10}) {
    std::vector<uint8_t> cut(img.begin(), img.begin() + n);
    EXPECT_EQ(load_error(cut), base::Errno(ENOEXEC)) << n;
  }
}

TEST(ElfLoader, MalformedHeadersAreEnoexec) {
  auto mutate = [](auto f) {
    auto img = tiny_elf();
    f(img);
    return load_error(img);
  };
  const base::Errno enoexec(ENOEXEC);
  EXPECT_EQ(mutate([](auto& i) { ehdr(i)->e_machine = EM_386; }), enoexec);
  EXPECT_EQ(mutate([](auto& i) { ehdr(i)->e_ident[EI_CLASS] = ELFCLASS32; }), enoexec);
  EXPECT_EQ(mutate([](auto& i) { ehdr(i)->e_type = ET_REL; }), enoexec);
  EXPECT_EQ(mutate([](auto& i) { ehdr(i)->e_phoff = 1u << 30; }), enoexec);
  EXPECT_EQ(mutate([](auto& i) { ehdr(i)->e_phoff = ~0ull - 8; }), enoexec);
  EXPECT_EQ(mutate([](auto& i) { ehdr(i)->e_phnum = 0; }), enoexec);
  EXPECT_EQ(mutate([](auto& i) { ehdr(i)->e_phnum = 60000; }), enoexec);
  EXPECT_EQ(mutate([](auto& i) { ehdr(i)->e_phentsize = 12; }), enoexec);
  EXPECT_EQ(mutate([](auto& i) { phdr(i)->p_filesz = phdr(i)->p_memsz + 1; }), enoexec);
  EXPECT_EQ(mutate([](auto& i) { phdr(i)->p_offset = 1u << 20; }), enoexec);
  EXPECT_EQ(mutate([](auto& i) { phdr(i)->p_offset = ~0ull - 4; }), enoexec);
  EXPECT_EQ(mutate([](auto& i) { phdr(i)->p_vaddr = ~0ull - 4096; }), enoexec);
  EXPECT_EQ(mutate([](auto& i) { phdr(i)->p_vaddr = 0x400123; }), enoexec);  // misaligned
  EXPECT_EQ(mutate([](auto& i) { phdr(i)->p_vaddr = 0; }), enoexec);         // below mmap_min_addr
  EXPECT_EQ(mutate([](auto& i) { phdr(i)->p_type = PT_NOTE; }), enoexec);    // nothing to load
  // A dynamic executable whose interpreter was not given, or whose PT_INTERP
  // is not a NUL-terminated path inside the file.
  EXPECT_EQ(mutate([](auto& i) {
              phdr(i)->p_type = PT_INTERP;
              phdr(i)->p_filesz = 8;
            }),
            enoexec);
}

TEST(ElfLoader, RealBusyboxLoads) {
  std::ifstream f(PANGAEA_BUSYBOX, std::ios::binary);
  if (!f) GTEST_SKIP() << "no " << PANGAEA_BUSYBOX;
  std::vector<uint8_t> img((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  mm::TestMemory t(4096);
  auto mm = t.new_mm();
  auto r = load_elf(*mm, img, args());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->entry, ehdr(img)->e_entry);
}

TEST(Shebang, ParsesInterpreterAndOneArgument) {
  auto parse = [](const std::string& s) {
    return parse_shebang(std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  };
  auto a = parse("#!/bin/sh\necho hi\n");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->first, "/bin/sh");
  EXPECT_EQ(a->second, "");
  auto b = parse("#!  /usr/bin/env   python3 -u  \n");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->first, "/usr/bin/env");
  EXPECT_EQ(b->second, "python3 -u");
  EXPECT_EQ(parse("#!\n").error(), base::Errno(ENOEXEC));
  EXPECT_EQ(parse("#!   \n").error(), base::Errno(ENOEXEC));
  EXPECT_EQ(parse("echo hi").error(), base::Errno(ENOEXEC));
}

}  // namespace
}  // namespace kernel::loader
