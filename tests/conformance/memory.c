// Memory: mmap anonymous private/shared, munmap, mprotect, brk, big malloc,
// and a private file mapping.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"

int main(void) {
  size_t len = 1 << 20;
  char* p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(p != MAP_FAILED);
  CHECK(p[0] == 0 && p[len - 1] == 0);
  for (size_t i = 0; i < len; i += 4096) p[i] = (char)(i >> 12);
  int good = 1;
  for (size_t i = 0; i < len; i += 4096) good &= p[i] == (char)(i >> 12);
  CHECK(good);
  CHECK(munmap(p + 4096, 4096) == 0);
  CHECK(mprotect(p, 4096, PROT_READ) == 0);
  CHECK(p[0] == 0);
  CHECK(mprotect(p + 4096, 4096, PROT_READ) == -1 && errno == ENOMEM);  // the hole
  CHECK(munmap(p, len) == 0);
  CHECK(mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED &&
        errno == EINVAL);
  CHECK(munmap((void*)4097, 4096) == -1 && errno == EINVAL);

  char* fixed = mmap((void*)0x200000000, 8192, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  CHECK(fixed == (void*)0x200000000);
  CHECK(mmap((void*)0x200000000, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS |
             MAP_FIXED_NOREPLACE, -1, 0) == MAP_FAILED && errno == EEXIST);

  char* r = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  strcpy(r + 4096, "survives mremap");
  char* r2 = mremap(r, 8192, 1 << 20, MREMAP_MAYMOVE);
  CHECK(r2 != MAP_FAILED && strcmp(r2 + 4096, "survives mremap") == 0 && r2[(1 << 20) - 1] == 0);
  CHECK(mremap(r2, 1 << 20, 4096, 0) == r2);
  CHECK(munmap(r2, 4096) == 0);

  void* b0 = sbrk(0);
  CHECK(sbrk(100000) == b0);
  memset(b0, 7, 100000);
  CHECK(((char*)b0)[99999] == 7);
  CHECK(sbrk(-100000) != (void*)-1);

  char* big = malloc(64 << 20);
  CHECK(big != NULL);
  big[0] = 1;
  big[(64 << 20) - 1] = 2;
  CHECK(big[0] + big[(64 << 20) - 1] == 3);
  free(big);

  const char* path = "/tmp/pangaea-conformance-memory";
  int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
  CHECK(fd >= 0 && write(fd, "mapped file contents", 20) == 20);
  char* m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
  CHECK(m != MAP_FAILED && memcmp(m, "mapped file contents", 20) == 0 && m[20] == 0);
  close(fd);
  unlink(path);
  return DONE();
}
