#include "kernel/loader/elf_loader.h"

#include <elf.h>
#include <sys/auxv.h>
#include <sys/mman.h>

#include <cstring>

#include "base/bytes.h"

namespace kernel::loader {
namespace {

using base::kPageSize;
using base::page_round_down;
using base::page_round_up;

int elf_prot(uint32_t flags) {
  int prot = 0;
  if (flags & PF_R) prot |= PROT_READ;
  if (flags & PF_W) prot |= PROT_WRITE;
  if (flags & PF_X) prot |= PROT_EXEC;
  return prot;
}

// Checks the header and program headers; returns them.
Result<std::pair<Elf64_Ehdr, std::vector<Elf64_Phdr>>> parse(std::span<const uint8_t> image) {
  Elf64_Ehdr eh;
  if (image.size() < sizeof(eh)) return Errno(ENOEXEC);
  std::memcpy(&eh, image.data(), sizeof(eh));
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_ident[EI_VERSION] != EV_CURRENT ||
      eh.e_machine != EM_X86_64 || (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) ||
      eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > 256)
    return Errno(ENOEXEC);
  uint64_t ph_bytes = uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr);
  if (eh.e_phoff > image.size() || ph_bytes > image.size() - eh.e_phoff) return Errno(ENOEXEC);
  std::vector<Elf64_Phdr> ph(eh.e_phnum);
  std::memcpy(ph.data(), image.data() + eh.e_phoff, ph_bytes);
  bool any_load = false;
  for (const auto& p : ph) {
    if (p.p_type == PT_INTERP &&
        (p.p_offset > image.size() || p.p_filesz > image.size() - p.p_offset || p.p_filesz < 2 ||
         p.p_filesz > 4096 || image[p.p_offset + p.p_filesz - 1] != 0))
      return Errno(ENOEXEC);
    if (p.p_type != PT_LOAD) continue;
    any_load = true;
    if (p.p_filesz > p.p_memsz || p.p_offset > image.size() ||
        p.p_filesz > image.size() - p.p_offset)
      return Errno(ENOEXEC);
    if (p.p_vaddr % kPageSize != p.p_offset % kPageSize) return Errno(ENOEXEC);
    if (p.p_memsz > mm::kMmapTop || p.p_vaddr > mm::kMmapTop - p.p_memsz) return Errno(ENOEXEC);
  }
  if (!any_load) return Errno(ENOEXEC);
  return std::make_pair(eh, std::move(ph));
}

// Builds the initial stack below mm::kStackTop; returns the stack pointer.
Result<uint64_t> build_stack(mm::MemoryManager& mm, const ExecArgs& args,
                             const std::vector<std::pair<uint64_t, uint64_t>>& auxv_in) {
  uint64_t stack_lo = mm::kStackTop - mm::kStackSize;
  TRY(mm.mmap(stack_lo, mm::kStackSize, PROT_READ | PROT_WRITE,
              MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, nullptr, 0));
  size_t bytes = 0;
  for (auto& s : args.argv) bytes += s.size() + 1;
  for (auto& s : args.envp) bytes += s.size() + 1;
  if (bytes > kMaxArgBytes) return Errno(E2BIG);

  uint64_t pos = mm::kStackTop;
  auto push_bytes = [&](const void* data, size_t n) -> Result<uint64_t> {
    pos -= n;
    TRY(mm.copy_out(pos, data, n));
    return pos;
  };
  auto push_string = [&](const std::string& s) { return push_bytes(s.c_str(), s.size() + 1); };

  pos -= 8;  // an end marker word, as Linux leaves at the very top
  uint64_t execfn = TRY(push_string(args.execfn));
  std::vector<uint64_t> envp, argv;
  for (auto it = args.envp.rbegin(); it != args.envp.rend(); ++it)
    envp.insert(envp.begin(), TRY(push_string(*it)));
  for (auto it = args.argv.rbegin(); it != args.argv.rend(); ++it)
    argv.insert(argv.begin(), TRY(push_string(*it)));
  uint64_t platform = TRY(push_string("x86_64"));
  uint8_t random[16];
  if (getentropy(random, sizeof(random)) != 0) std::memset(random, 0x5a, sizeof(random));
  pos &= ~uint64_t{15};
  uint64_t at_random = TRY(push_bytes(random, sizeof(random)));

  std::vector<std::pair<uint64_t, uint64_t>> auxv = auxv_in;
  auxv.emplace_back(AT_RANDOM, at_random);
  auxv.emplace_back(AT_EXECFN, execfn);
  auxv.emplace_back(AT_PLATFORM, platform);
  if (args.vdso) auxv.emplace_back(AT_SYSINFO_EHDR, args.vdso);
  auxv.emplace_back(AT_NULL, 0);

  std::vector<uint64_t> words;
  words.push_back(argv.size());
  words.insert(words.end(), argv.begin(), argv.end());
  words.push_back(0);
  words.insert(words.end(), envp.begin(), envp.end());
  words.push_back(0);
  for (auto& [k, v] : auxv) {
    words.push_back(k);
    words.push_back(v);
  }
  uint64_t sp = (pos - words.size() * 8) & ~uint64_t{15};
  TRY(mm.copy_out(sp, words.data(), words.size() * 8));
  return sp;
}

}  // namespace

namespace {

struct Mapped {
  uint64_t bias = 0;
  uint64_t entry = 0;
  uint64_t phdr = 0;
  uint64_t end = 0;  // highest byte of any segment, biased
};

// Maps the PT_LOAD segments of a parsed image. ET_DYN images go at
// `dyn_base`, or anywhere free when it is 0 (the interpreter).
Result<Mapped> map_image(mm::MemoryManager& mm, std::span<const uint8_t> image,
                         const Elf64_Ehdr& eh, const std::vector<Elf64_Phdr>& ph,
                         uint64_t dyn_base) {
  uint64_t lowest = ~0ull, highest = 0;
  for (const auto& p : ph) {
    if (p.p_type != PT_LOAD) continue;
    lowest = std::min(lowest, page_round_down(p.p_vaddr));
    highest = std::max(highest, page_round_up(p.p_vaddr + p.p_memsz));
  }
  Mapped m;
  if (eh.e_type == ET_DYN) {
    // Reserve the whole span first (PROT_NONE, as Linux leaves the gaps).
    uint64_t base =
        TRY(mm.mmap(dyn_base, highest - lowest, PROT_NONE,
                    MAP_PRIVATE | MAP_ANONYMOUS | (dyn_base ? MAP_FIXED : 0), nullptr, 0));
    m.bias = base - lowest;
  } else if (lowest < platform::kGuestMin) {
    return Errno(ENOEXEC);
  }
  uint64_t mapped_end = 0;
  for (const auto& p : ph) {
    if (p.p_type == PT_PHDR) m.phdr = p.p_vaddr + m.bias;
    if (p.p_type != PT_LOAD) continue;
    uint64_t start = std::max(page_round_down(p.p_vaddr + m.bias), mapped_end);
    uint64_t end = page_round_up(p.p_vaddr + m.bias + p.p_memsz);
    if (end > start) {
      TRY(mm.mmap(start, end - start, elf_prot(p.p_flags), MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                  nullptr, 0));
      mapped_end = end;
    }
    if (p.p_filesz)
      TRY(mm.copy_out(p.p_vaddr + m.bias, image.data() + p.p_offset, p.p_filesz, true));
    m.end = std::max(m.end, p.p_vaddr + m.bias + p.p_memsz);
    // The program headers themselves, when a segment carries them.
    if (!m.phdr && eh.e_phoff >= p.p_offset && eh.e_phoff < p.p_offset + p.p_filesz)
      m.phdr = p.p_vaddr + m.bias + (eh.e_phoff - p.p_offset);
  }
  m.entry = eh.e_entry + m.bias;
  return m;
}

}  // namespace

Result<std::string> elf_interpreter(std::span<const uint8_t> image) {
  auto [eh, ph] = TRY(parse(image));
  for (const auto& p : ph)
    if (p.p_type == PT_INTERP)
      return std::string(reinterpret_cast<const char*>(image.data() + p.p_offset));
  return std::string();
}

Result<LoadedImage> load_elf(mm::MemoryManager& mm, std::span<const uint8_t> image,
                             const ExecArgs& args, std::span<const uint8_t> interp) {
  auto [eh, ph] = TRY(parse(image));
  bool dynamic = false;
  for (const auto& p : ph) dynamic |= p.p_type == PT_INTERP;
  if (dynamic && interp.empty()) return Errno(ENOEXEC);
  Mapped main = TRY(map_image(mm, image, eh, ph, kPieBase));
  Mapped ld;
  if (dynamic) {
    auto [ieh, iph] = TRY(parse(interp));
    for (const auto& p : iph)
      if (p.p_type == PT_INTERP) return Errno(ELIBBAD);  // an interpreter needs none
    if (ieh.e_type != ET_DYN) return Errno(ELIBBAD);
    ld = TRY(map_image(mm, interp, ieh, iph, 0));
  }

  std::vector<std::pair<uint64_t, uint64_t>> auxv = {
      {AT_HWCAP, getauxval(AT_HWCAP)},
      {AT_PAGESZ, kPageSize},
      {AT_CLKTCK, 100},
      {AT_PHDR, main.phdr},
      {AT_PHENT, sizeof(Elf64_Phdr)},
      {AT_PHNUM, eh.e_phnum},
      {AT_BASE, dynamic ? ld.bias : 0},
      {AT_FLAGS, 0},
      {AT_ENTRY, main.entry},
      {AT_UID, 0},
      {AT_EUID, 0},
      {AT_GID, 0},
      {AT_EGID, 0},
      {AT_SECURE, 0},
      {AT_HWCAP2, getauxval(AT_HWCAP2)},
  };
  LoadedImage out;
  out.entry = dynamic ? ld.entry : main.entry;
  out.brk = page_round_up(main.end);
  out.stack_pointer = TRY(build_stack(mm, args, auxv));
  mm.set_brk_base(out.brk);
  return out;
}

Result<std::pair<std::string, std::string>> parse_shebang(std::span<const uint8_t> image) {
  if (image.size() < 2 || image[0] != '#' || image[1] != '!') return Errno(ENOEXEC);
  size_t n = std::min<size_t>(image.size(), 256);
  std::string line(reinterpret_cast<const char*>(image.data()) + 2, n - 2);
  size_t nl = line.find('\n');
  if (nl != std::string::npos) line.resize(nl);
  auto is_space = [](char c) { return c == ' ' || c == '\t'; };
  size_t i = 0;
  while (i < line.size() && is_space(line[i])) ++i;
  size_t j = i;
  while (j < line.size() && !is_space(line[j]) && line[j] != '\0') ++j;
  std::string interp = line.substr(i, j - i);
  if (interp.empty()) return Errno(ENOEXEC);
  while (j < line.size() && is_space(line[j])) ++j;
  std::string arg = line.substr(j);
  while (!arg.empty() && is_space(arg.back())) arg.pop_back();
  return std::make_pair(interp, arg);
}

}  // namespace kernel::loader
