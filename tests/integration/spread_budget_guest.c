// A guest program for Spread.PrimaryBudget* (spread_budget_test.cc): a
// working set several times the primary's cache budget, every byte checked.
//   spread_budget_guest MIB ROUNDS
// Each round writes a round-specific pattern over an anonymous buffer of
// MIB MiB, then reads every word back. Then the kernel copies the buffer,
// 4 KiB at a time, through a pipe into a second buffer (copy_in from frames
// the evictor may take, copy_out into others), which is checked too.
// Prints "ok" and exits 0, or names the first wrong word and exits 1.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static uint64_t pattern(uint64_t i, uint64_t round) {
  return (i * 0x9E3779B97F4A7C15ull) ^ (round << 56) ^ (i >> 3);
}

static int check(const uint64_t* p, uint64_t words, uint64_t round, const char* what) {
  for (uint64_t i = 0; i < words; ++i) {
    if (p[i] != pattern(i, round)) {
      printf("%s: round %llu: word %llu is %#llx, not %#llx\n", what, (unsigned long long)round,
             (unsigned long long)i, (unsigned long long)p[i],
             (unsigned long long)pattern(i, round));
      return 0;
    }
  }
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  const uint64_t bytes = strtoull(argv[1], NULL, 10) << 20;
  const int rounds = atoi(argv[2]);
  const uint64_t words = bytes / 8;
  uint64_t* a = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  uint64_t* b = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (a == MAP_FAILED || b == MAP_FAILED) return 2;
  for (int r = 1; r <= rounds; ++r) {
    for (uint64_t i = 0; i < words; ++i) a[i] = pattern(i, (uint64_t)r);
    if (!check(a, words, (uint64_t)r, "buffer")) return 1;
  }
  int p[2];
  if (pipe(p) != 0) return 2;
  const size_t chunk = 4096;
  for (uint64_t off = 0; off < bytes; off += chunk) {
    if (write(p[1], (char*)a + off, chunk) != (ssize_t)chunk) return 2;
    size_t got = 0;
    while (got < chunk) {
      ssize_t n = read(p[0], (char*)b + off + got, chunk - got);
      if (n <= 0) return 2;
      got += (size_t)n;
    }
  }
  if (!check(b, words, (uint64_t)rounds, "pipe copy")) return 1;
  printf("ok: %llu MiB, %d rounds, copied through a pipe\n", (unsigned long long)(bytes >> 20),
         rounds);
  return 0;
}
