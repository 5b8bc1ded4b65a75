// Guest thread costs, measured inside the program (run natively and in the
// guest by run.sh): one line per operation, "name ns_per_op".
//   create   pthread_create + pthread_join of a thread that returns at once
//   condvar  a round trip between two threads over a mutex + condition variable
//   futex    a round trip between two threads over raw FUTEX_WAIT/WAKE_PRIVATE
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void* nothing(void* arg) { return arg; }

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long turn, rounds;

static void* condvar_peer(void* arg) {
  (void)arg;
  pthread_mutex_lock(&mu);
  for (long i = 0; i < rounds; ++i) {
    while (turn != 1) pthread_cond_wait(&cv, &mu);
    turn = 0;
    pthread_cond_signal(&cv);
  }
  pthread_mutex_unlock(&mu);
  return NULL;
}

static uint32_t word;
static void fwait(uint32_t v) {
  while (__atomic_load_n(&word, __ATOMIC_ACQUIRE) == v)
    syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}
static void fset(uint32_t v) {
  __atomic_store_n(&word, v, __ATOMIC_RELEASE);
  syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void* futex_peer(void* arg) {
  (void)arg;
  for (long i = 0; i < rounds; ++i) {
    fwait(0);  // wait for 1
    fset(0);
  }
  return NULL;
}

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000;
  pthread_t t;

  uint64_t t0 = now_ns();
  for (long i = 0; i < n; ++i) {
    pthread_create(&t, NULL, nothing, NULL);
    pthread_join(t, NULL);
  }
  printf("create %lu\n", (unsigned long)((now_ns() - t0) / n));

  rounds = n;
  pthread_create(&t, NULL, condvar_peer, NULL);
  t0 = now_ns();
  pthread_mutex_lock(&mu);
  for (long i = 0; i < n; ++i) {
    turn = 1;
    pthread_cond_signal(&cv);
    while (turn != 0) pthread_cond_wait(&cv, &mu);
  }
  pthread_mutex_unlock(&mu);
  printf("condvar %lu\n", (unsigned long)((now_ns() - t0) / n));
  pthread_join(t, NULL);

  pthread_create(&t, NULL, futex_peer, NULL);
  t0 = now_ns();
  for (long i = 0; i < n; ++i) {
    fset(1);
    fwait(1);
  }
  printf("futex %lu\n", (unsigned long)((now_ns() - t0) / n));
  pthread_join(t, NULL);
  return 0;
}
