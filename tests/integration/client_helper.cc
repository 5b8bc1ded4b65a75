// A DSM client process for tests/integration/client_test.cc.
//
//   client_helper [--uid UID [--keep-dac]] [--region NAME] WHERE COMMAND ARGS...
//     write OFFSET TEXT   writes TEXT at byte OFFSET of the region, prints "wrote"
//     read OFFSET LEN     prints LEN bytes read at OFFSET
//     churn OFFSET PAGES  writes PAGES pages from OFFSET over and over; prints
//                         "attached" after the first round, never exits
//     bump OFFSET COUNT [BARRIER PARTIES]
//                         COUNT times: reads the 64-bit word at OFFSET, writes
//                         it back plus one (no lock: the word is this
//                         client's alone); prints the final value. With
//                         BARRIER, first adds one to the word there (atomic)
//                         and waits until PARTIES clients did, so they bump at once
//     get OFFSET          prints the 64-bit word at OFFSET
//     fill FRAME COUNT SEED   writes a word derived from (frame, SEED) at the
//                         start and the end of COUNT frames from FRAME; "filled"
//     check FRAME COUNT SEED  reads them back: "checked COUNT", or the first
//                         frame that differs ("bad frame F: ...", exit 1)
//
// --uid drops to UID before attaching (from root); --keep-dac keeps
// CAP_DAC_OVERRIDE so the socket's file mode lets it through and the node's
// SO_PEERCRED check is what refuses it. An attach error prints
// "attach failed: errno N: MESSAGE" and exits 1.

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "dsm/client/client.h"

namespace {

int drop_to(uid_t uid, bool keep_dac) {
  if (keep_dac && prctl(PR_SET_KEEPCAPS, 1) != 0) return -1;
  if (setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0) return -1;
  if (!keep_dac) return 0;
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return -1;
  data[0].effective = (1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH);
  return static_cast<int>(syscall(SYS_capset, &header, data));
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string region = "guest";
  long uid = -1;
  bool keep_dac = false;
  while (!args.empty() && args[0].rfind("--", 0) == 0) {
    if (args[0] == "--uid" && args.size() > 1) {
      uid = std::stol(args[1]);
      args.erase(args.begin(), args.begin() + 2);
    } else if (args[0] == "--keep-dac") {
      keep_dac = true;
      args.erase(args.begin());
    } else if (args[0] == "--region" && args.size() > 1) {
      region = args[1];
      args.erase(args.begin(), args.begin() + 2);
    } else {
      std::fprintf(stderr, "client_helper: unknown option %s\n", args[0].c_str());
      return 2;
    }
  }
  if (args.size() < 2) {
    std::fprintf(stderr, "usage: client_helper [options] WHERE COMMAND ARGS...\n");
    return 2;
  }
  if (uid >= 0 && drop_to(static_cast<uid_t>(uid), keep_dac) != 0) {
    std::perror("client_helper: dropping privileges");
    return 2;
  }
  auto r = dsm::client::attach(args[0], region);
  if (!r.ok()) {
    std::printf("attach failed: errno %d: %s\n", r.error().code(), r.error().message().c_str());
    return 1;
  }
  std::byte* base = (*r)->data();
  const std::string& cmd = args[1];
  if (cmd == "write" && args.size() == 4) {
    std::memcpy(base + std::stoull(args[2]), args[3].data(), args[3].size());
    std::printf("wrote\n");
  } else if (cmd == "read" && args.size() == 4) {
    std::string text(reinterpret_cast<const char*>(base + std::stoull(args[2])),
                     std::stoull(args[3]));
    std::printf("%s\n", text.c_str());
  } else if (cmd == "churn" && args.size() == 4) {
    const uint64_t offset = std::stoull(args[2]), pages = std::stoull(args[3]);
    for (uint64_t round = 0;; ++round) {
      for (uint64_t p = 0; p < pages; ++p) {
        reinterpret_cast<volatile uint64_t*>(base + offset + p * 4096)[0] = round;
      }
      if (round == 0) {
        std::printf("attached\n");
        std::fflush(stdout);
      }
    }
  } else if (cmd == "bump" && (args.size() == 4 || args.size() == 6)) {
    auto* word = reinterpret_cast<volatile uint64_t*>(base + std::stoull(args[2]));
    const uint64_t count = std::stoull(args[3]);
    if (args.size() == 6) {
      auto* barrier = reinterpret_cast<uint64_t*>(base + std::stoull(args[4]));
      const uint64_t parties = std::stoull(args[5]);
      __atomic_add_fetch(barrier, 1, __ATOMIC_SEQ_CST);
      while (__atomic_load_n(barrier, __ATOMIC_SEQ_CST) < parties) {
      }
    }
    for (uint64_t i = 0; i < count; ++i) *word = *word + 1;
    std::printf("%llu\n", static_cast<unsigned long long>(*word));
  } else if (cmd == "get" && args.size() == 3) {
    auto* word = reinterpret_cast<volatile uint64_t*>(base + std::stoull(args[2]));
    std::printf("%llu\n", static_cast<unsigned long long>(*word));
  } else if ((cmd == "fill" || cmd == "check") && args.size() == 5) {
    const uint64_t first = std::stoull(args[2]), count = std::stoull(args[3]),
                   seed = std::stoull(args[4]);
    for (uint64_t f = first; f < first + count; ++f) {
      auto* page = reinterpret_cast<volatile uint64_t*>(base + f * 4096);
      const uint64_t want = (f + 1) * 0x9e3779b97f4a7c15ull ^ seed;
      if (cmd == "fill") {
        page[0] = want;
        page[511] = ~want;
        continue;
      }
      if (page[0] != want || page[511] != ~want) {
        std::printf("bad frame %llu: %llx %llx\n", static_cast<unsigned long long>(f),
                    static_cast<unsigned long long>(page[0]),
                    static_cast<unsigned long long>(page[511]));
        return 1;
      }
    }
    if (cmd == "fill") {
      std::printf("filled\n");
    } else {
      std::printf("checked %llu\n", static_cast<unsigned long long>(count));
    }
  } else {
    std::fprintf(stderr, "client_helper: bad command\n");
    return 2;
  }
  return 0;
}
