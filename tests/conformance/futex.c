// futex between processes on a MAP_SHARED page: wait/wake, a value that
// already changed (EAGAIN), a timeout (ETIMEDOUT), and bitsets.
#define _GNU_SOURCE
#include <linux/futex.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static long futex(uint32_t* uaddr, int op, uint32_t val, const struct timespec* ts, uint32_t val3) {
  return syscall(SYS_futex, uaddr, op, val, ts, NULL, val3);
}

int main(void) {
  uint32_t* shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  CHECK(shared != MAP_FAILED);
  shared[0] = 0;
  shared[1] = 0;
  pid_t c = fork();
  if (c == 0) {
    // Wait until the parent flips the word; then answer in word 1.
    while (__atomic_load_n(&shared[0], __ATOMIC_SEQ_CST) == 0) futex(&shared[0], FUTEX_WAIT, 0, NULL, 0);
    __atomic_store_n(&shared[1], 1, __ATOMIC_SEQ_CST);
    futex(&shared[1], FUTEX_WAKE, 1, NULL, 0);
    _exit(0);
  }
  __atomic_store_n(&shared[0], 1, __ATOMIC_SEQ_CST);
  futex(&shared[0], FUTEX_WAKE, 1, NULL, 0);
  while (__atomic_load_n(&shared[1], __ATOMIC_SEQ_CST) == 0) futex(&shared[1], FUTEX_WAIT, 0, NULL, 0);
  int status;
  CHECK(waitpid(c, &status, 0) == c && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(shared[1] == 1);

  uint32_t word = 5;
  CHECK(futex(&word, FUTEX_WAIT_PRIVATE, 4, NULL, 0) == -1 && errno == EAGAIN);
  struct timespec ts = {0, 20000000};
  CHECK(futex(&word, FUTEX_WAIT_PRIVATE, 5, &ts, 0) == -1 && errno == ETIMEDOUT);
  CHECK(futex(&word, FUTEX_WAKE_PRIVATE, 1, NULL, 0) == 0);  // nobody waits
  CHECK(futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 5, NULL, 0) == -1 && errno == EINVAL);
  CHECK(futex((uint32_t*)((char*)&word + 1), FUTEX_WAKE, 1, NULL, 0) == -1 && errno == EINVAL);
  return DONE();
}
