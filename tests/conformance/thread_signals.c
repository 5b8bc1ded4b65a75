// Signals and threads: tgkill reaches the named thread (the handler runs on
// it), each thread has its own mask, a process-directed signal goes to a
// thread that does not block it, a signal blocked by one thread stays
// pending for it alone, and a thread can exit_group the whole process.
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static volatile long handled_on;
static volatile int handled_count;

static void handler(int sig) {
  (void)sig;
  handled_on = syscall(SYS_gettid);
  handled_count++;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static long worker_tid;
static int stage;

static void wait_stage(int s) {
  pthread_mutex_lock(&lock);
  while (stage < s) pthread_cond_wait(&cond, &lock);
  pthread_mutex_unlock(&lock);
}

static void set_stage(int s) {
  pthread_mutex_lock(&lock);
  stage = s;
  pthread_cond_broadcast(&cond);
  pthread_mutex_unlock(&lock);
}

static void* worker(void* arg) {
  (void)arg;
  worker_tid = syscall(SYS_gettid);
  set_stage(1);
  // Wait for SIGUSR1 sent at this thread.
  sigset_t none;
  sigemptyset(&none);
  while (handled_count == 0) sigsuspend(&none);
  set_stage(2);
  // Now block SIGUSR2; the main thread gets the process-directed one.
  sigset_t usr2;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &usr2, NULL);
  set_stage(3);
  wait_stage(4);
  // A SIGUSR2 aimed at this thread while it blocks it is pending here only.
  sigset_t pend;
  sigpending(&pend);
  long pending_here = sigismember(&pend, SIGUSR2);
  return (void*)pending_here;
}

static void* sigwaiter(void* arg) {
  sigset_t* set = arg;
  int sig = 0;
  if (sigwait(set, &sig) != 0) return (void*)-1;
  return (void*)(long)sig;
}

static void* exiter(void* arg) {
  (void)arg;
  exit(3);  // exit_group: the whole process ends, the main thread too
}

static void* pauser(void* arg) {
  (void)arg;
  worker_tid = syscall(SYS_gettid);
  set_stage(1);
  for (;;) pause();
  return NULL;
}

int main(void) {
  struct sigaction sa = {0};
  sa.sa_handler = handler;
  sigaction(SIGUSR1, &sa, NULL);
  sigaction(SIGUSR2, &sa, NULL);

  // The main thread blocks SIGUSR1, so only the worker can take it.
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &usr1, NULL);

  pthread_t t;
  CHECK(pthread_create(&t, NULL, worker, NULL) == 0);
  wait_stage(1);
  CHECK(syscall(SYS_tgkill, getpid(), worker_tid, SIGUSR1) == 0);
  wait_stage(2);
  CHECK(handled_on == worker_tid);
  CHECK(handled_count == 1);

  // Unblock SIGUSR1 here; SIGUSR2 is blocked by the worker: a signal to the
  // process is taken by the main thread.
  pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
  wait_stage(3);
  handled_on = 0;
  CHECK(kill(getpid(), SIGUSR2) == 0);
  CHECK(handled_on == syscall(SYS_gettid));
  CHECK(handled_count == 2);

  // Aimed at the worker, which blocks it: pending there, not run here.
  CHECK(syscall(SYS_tgkill, getpid(), worker_tid, SIGUSR2) == 0);
  CHECK(handled_count == 2);
  set_stage(4);
  void* ret;
  CHECK(pthread_join(t, &ret) == 0);
  CHECK(ret == (void*)1);
  CHECK(syscall(SYS_tgkill, getpid(), worker_tid, 0) == -1 && errno == ESRCH);
  CHECK(syscall(SYS_tgkill, getpid() + 100000, syscall(SYS_gettid), 0) == -1 && errno == ESRCH);

  // A thread waits in sigwait for a signal every thread blocks; a signal to
  // the process wakes it. sigtimedwait times out with EAGAIN.
  sigset_t hup;
  sigemptyset(&hup);
  sigaddset(&hup, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &hup, NULL);
  CHECK(pthread_create(&t, NULL, sigwaiter, &hup) == 0);
  struct timespec short_wait = {0, 20000000};
  nanosleep(&short_wait, NULL);  // let it block (the result is the same if not)
  CHECK(kill(getpid(), SIGHUP) == 0);
  CHECK(pthread_join(t, &ret) == 0);
  CHECK(ret == (void*)SIGHUP);
  siginfo_t info;
  CHECK(sigtimedwait(&hup, &info, &short_wait) == -1 && errno == EAGAIN);
  CHECK(raise(SIGHUP) == 0);
  CHECK(sigtimedwait(&hup, &info, &short_wait) == SIGHUP && info.si_signo == SIGHUP);

  // A thread calling exit(): the whole process exits with its status.
  fflush(stdout);
  pid_t c = fork();
  if (c == 0) {
    pthread_t e;
    pthread_create(&e, NULL, exiter, NULL);
    pthread_join(e, NULL);
    _exit(9);  // never reached
  }
  int status = -1;
  CHECK(waitpid(c, &status, 0) == c);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3);

  // A fatal signal to one thread kills the whole process.
  fflush(stdout);
  c = fork();
  if (c == 0) {
    signal(SIGTERM, SIG_DFL);
    stage = 0;
    pthread_t e;
    pthread_create(&e, NULL, pauser, NULL);
    wait_stage(1);
    syscall(SYS_tgkill, getpid(), worker_tid, SIGTERM);
    for (;;) pause();
  }
  CHECK(waitpid(c, &status, 0) == c);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
  return DONE();
}
