// execve from a thread that is not the first one: the other threads end,
// the new program runs with the process's pid as its only thread (its tid
// is the pid), and the parent's wait4 sees the new program's exit.
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static char pidarg[32];

static void* exec_self(void* arg) {
  (void)arg;
  char* argv[] = {"thread_exec", "after-exec", pidarg, NULL};
  execv("/proc/self/exe", argv);
  _exit(99);  // exec failed
}

static void* spin_forever(void* arg) {
  (void)arg;
  for (;;) pause();
  return NULL;
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

int main(int argc, char** argv) {
  if (argc == 3) {
    // The new program: same pid, one thread, tid == pid.
    int ok = atoi(argv[2]) == getpid() && syscall(SYS_gettid) == getpid() && count_tasks() == 1;
    return ok ? 5 : 6;
  }
  fflush(stdout);
  pid_t c = fork();
  if (c == 0) {
    snprintf(pidarg, sizeof(pidarg), "%d", getpid());
    pthread_t idle, execer;
    pthread_create(&idle, NULL, spin_forever, NULL);
    pthread_create(&execer, NULL, exec_self, NULL);
    pthread_join(idle, NULL);  // never returns: the exec ends this thread
    _exit(98);
  }
  int status = -1;
  CHECK(waitpid(c, &status, 0) == c);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 5);
  return DONE();
}
