// Guest threads (static glibc pthreads): create/join with a result, many
// threads on a mutex-protected counter, a condition variable, thread-local
// storage, gettid/getpid, a detached thread, futex wait/wake and timeouts
// between threads, and a process whose first thread exits before the others
// (wait4 sees it only once the whole group is gone).
#define _GNU_SOURCE
#include <dirent.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static __thread int tls_value = 7;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;
enum { kThreads = 8, kIncrements = 20000 };

static void* add(void* arg) {
  (void)arg;
  for (int i = 0; i < kIncrements; ++i) {
    pthread_mutex_lock(&lock);
    counter++;
    pthread_mutex_unlock(&lock);
    if (i % 1000 == 0) sched_yield();
  }
  return NULL;
}

static void* ids(void* arg) {
  long* out = arg;
  out[0] = getpid();
  out[1] = syscall(SYS_gettid);
  tls_value = 99;  // this thread's copy only
  out[2] = tls_value;
  return (void*)42;
}

static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int queue[16], head, tail, done_producing;

static void* producer(void* arg) {
  (void)arg;
  for (int i = 1; i <= 100; ++i) {
    pthread_mutex_lock(&lock);
    while (tail - head == 16) pthread_cond_wait(&cond, &lock);
    queue[tail++ % 16] = i;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
  }
  pthread_mutex_lock(&lock);
  done_producing = 1;
  pthread_cond_broadcast(&cond);
  pthread_mutex_unlock(&lock);
  return NULL;
}

static long consume_all(void) {
  long sum = 0;
  pthread_mutex_lock(&lock);
  for (;;) {
    while (head == tail && !done_producing) pthread_cond_wait(&cond, &lock);
    if (head == tail && done_producing) break;
    sum += queue[head++ % 16];
    pthread_cond_broadcast(&cond);
  }
  pthread_mutex_unlock(&lock);
  return sum;
}

static uint32_t word;
static long futex(uint32_t* uaddr, int op, uint32_t val, const struct timespec* ts,
                  uint32_t val3) {
  return syscall(SYS_futex, uaddr, op, val, ts, NULL, val3);
}

static void* futex_waker(void* arg) {
  (void)arg;
  __atomic_store_n(&word, 1, __ATOMIC_SEQ_CST);
  futex(&word, FUTEX_WAKE_PRIVATE, 1, NULL, 0);
  return NULL;
}

// FUTEX_CMP_REQUEUE: a waiter on word_a is moved to word_b, then woken there.
static uint32_t word_a, word_b;
static void* requeued_waiter(void* arg) {
  (void)arg;
  long r = futex(&word_a, FUTEX_WAIT_PRIVATE, 0, NULL, 0);
  return (void*)r;
}

static long requeue(uint32_t* from, uint32_t* to, int wake, int move, uint32_t cmp) {
  return syscall(SYS_futex, from, FUTEX_CMP_REQUEUE_PRIVATE, wake, (void*)(long)move, to, cmp);
}

static int detached_ran;
static pthread_mutex_t dlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t dcond = PTHREAD_COND_INITIALIZER;

static void* detached(void* arg) {
  (void)arg;
  pthread_mutex_lock(&dlock);
  detached_ran = 1;
  pthread_cond_signal(&dcond);
  pthread_mutex_unlock(&dlock);
  return NULL;
}

static int pipefd[2];
static void* outlive_main(void* arg) {
  (void)arg;
  struct timespec ts = {0, 20000000};
  nanosleep(&ts, NULL);
  write(pipefd[1], "late", 4);
  return NULL;  // the last thread: the process exits with status 0
}

static volatile int spin_flag;
static void* spin_setter(void* arg) {
  (void)arg;
  for (int round = 1; round <= 3; ++round) {
    while (spin_flag != 2 * round - 1) {
    }  // no syscall: only a time slice lets the other thread run
    spin_flag = 2 * round;
  }
  return NULL;
}

// fork from a second thread, with a value live in an SSE register across the
// raw syscall: the child must see the value, as the parent does.
static void* fork_keeps_sse(void* arg) {
  (void)arg;
  uint64_t val = 0x1234567890abcdefull, out = 0;
  long ret;
  __asm__ volatile("movq %2, %%xmm7\n\tsyscall\n\tmovq %%xmm7, %1"
                   : "=a"(ret), "=r"(out)
                   : "r"(val), "a"((long)SYS_fork)
                   : "rcx", "r11", "xmm7", "memory");
  if (ret == 0) _exit(out == val ? 0 : 1);
  int status = -1;
  waitpid((pid_t)ret, &status, 0);
  return (void*)(long)(out == val && WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

// A robust mutex whose owner thread exits: the next locker gets EOWNERDEAD.
static pthread_mutex_t robust;
static void* lock_and_exit(void* arg) {
  (void)arg;
  pthread_mutex_lock(&robust);
  return NULL;  // exits holding it
}

static int count_tasks(void) {
  DIR* d = opendir("/proc/self/task");
  if (!d) return -1;
  int n = 0;
  struct dirent* e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

static void* sleeper(void* arg) {
  pthread_mutex_lock(&dlock);
  while (!*(int*)arg) pthread_cond_wait(&dcond, &dlock);
  pthread_mutex_unlock(&dlock);
  return NULL;
}

int main(void) {
  // create/join, ids, TLS
  long out[3] = {0};
  pthread_t t;
  void* ret = NULL;
  CHECK(pthread_create(&t, NULL, ids, out) == 0);
  CHECK(pthread_join(t, &ret) == 0);
  CHECK(ret == (void*)42);
  CHECK(out[0] == getpid());
  CHECK(out[1] != getpid() && out[1] > 0);
  CHECK(syscall(SYS_gettid) == getpid());
  CHECK(out[2] == 99);
  CHECK(tls_value == 7);

  // many threads, one mutex
  pthread_t many[kThreads];
  for (int i = 0; i < kThreads; ++i) CHECK(pthread_create(&many[i], NULL, add, NULL) == 0);
  for (int i = 0; i < kThreads; ++i) pthread_join(many[i], NULL);
  CHECK(counter == (long)kThreads * kIncrements);

  // condition variable: a bounded queue
  CHECK(pthread_create(&t, NULL, producer, NULL) == 0);
  CHECK(consume_all() == 5050);
  CHECK(pthread_join(t, NULL) == 0);

  // futex between threads; timeouts (relative and absolute bitset)
  word = 0;
  CHECK(pthread_create(&t, NULL, futex_waker, NULL) == 0);
  while (__atomic_load_n(&word, __ATOMIC_SEQ_CST) == 0) futex(&word, FUTEX_WAIT_PRIVATE, 0, NULL, 0);
  CHECK(pthread_join(t, NULL) == 0);
  struct timespec rel = {0, 10000000};
  CHECK(futex(&word, FUTEX_WAIT_PRIVATE, 1, &rel, 0) == -1 && errno == ETIMEDOUT);
  struct timespec abs;
  clock_gettime(CLOCK_MONOTONIC, &abs);
  abs.tv_nsec += 10000000;
  if (abs.tv_nsec >= 1000000000) abs.tv_sec++, abs.tv_nsec -= 1000000000;
  CHECK(futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 1, &abs, 0xff) == -1 && errno == ETIMEDOUT);

  // two threads spinning (no syscalls) on flags the other one sets
  CHECK(pthread_create(&t, NULL, spin_setter, NULL) == 0);
  for (int round = 1; round <= 3; ++round) {
    spin_flag = 2 * round - 1;
    while (spin_flag != 2 * round) {
    }
  }
  CHECK(pthread_join(t, NULL) == 0);

  // requeue: retried until the waiter is blocked on word_a
  CHECK(pthread_create(&t, NULL, requeued_waiter, NULL) == 0);
  CHECK(requeue(&word_a, &word_b, 0, 1, 1) == -1 && errno == EAGAIN);  // word_a is 0, not 1
  long moved = 0;
  while ((moved = requeue(&word_a, &word_b, 0, 1, 0)) == 0) sched_yield();
  CHECK(moved == 1);
  CHECK(futex(&word_a, FUTEX_WAKE_PRIVATE, 1, NULL, 0) == 0);  // no longer there
  CHECK(futex(&word_b, FUTEX_WAKE_PRIVATE, 1, NULL, 0) == 1);
  CHECK(pthread_join(t, &ret) == 0);
  CHECK(ret == (void*)0);

  // /proc/self/task lists the live threads
  int flag = 0;
  CHECK(pthread_create(&t, NULL, sleeper, &flag) == 0);
  CHECK(count_tasks() == 2);
  pthread_mutex_lock(&dlock);
  flag = 1;
  pthread_cond_broadcast(&dcond);
  pthread_mutex_unlock(&dlock);
  CHECK(pthread_join(t, NULL) == 0);

  // a detached thread
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  CHECK(pthread_create(&t, &attr, detached, NULL) == 0);
  pthread_mutex_lock(&dlock);
  while (!detached_ran) pthread_cond_wait(&dcond, &dlock);
  pthread_mutex_unlock(&dlock);
  CHECK(detached_ran == 1);

  // robust mutex of a thread that died holding it
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&robust, &ma);
  CHECK(pthread_create(&t, NULL, lock_and_exit, NULL) == 0);
  CHECK(pthread_join(t, NULL) == 0);
  CHECK(pthread_mutex_lock(&robust) == EOWNERDEAD);
  CHECK(pthread_mutex_consistent(&robust) == 0);
  CHECK(pthread_mutex_unlock(&robust) == 0);

  // fork from a thread
  fflush(stdout);
  CHECK(pthread_create(&t, NULL, fork_keeps_sse, NULL) == 0);
  CHECK(pthread_join(t, &ret) == 0);
  CHECK(ret == (void*)1);

  // the first thread exits; the process ends with its last thread
  CHECK(pipe(pipefd) == 0);
  pid_t c = fork();
  if (c == 0) {
    close(pipefd[0]);
    pthread_create(&t, NULL, outlive_main, NULL);
    pthread_exit(NULL);
  }
  close(pipefd[1]);
  int status = -1;
  CHECK(waitpid(c, &status, 0) == c);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  char buf[8] = {0};
  CHECK(read(pipefd[0], buf, sizeof(buf)) == 4 && memcmp(buf, "late", 4) == 0);
  return DONE();
}
