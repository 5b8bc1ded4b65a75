/* The guest of Reboot.* (tests/integration/reboot_test.cc): counts the
 * bytes of 24 MiB of fresh anonymous memory that are not zero (a sample every
 * 512 bytes), prints "nonzero N", then fills the memory with a pattern, so
 * that a next guest on the same nodes would see it if it leaked. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

int main(void) {
  const size_t n = 24u << 20;
  unsigned char* p = mmap(0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  size_t nonzero = 0;
  for (size_t i = 0; i < n; i += 512) nonzero += p[i] != 0;
  memset(p, 0xa5, n);
  printf("nonzero %zu\n", nonzero);
  return 0;
}
