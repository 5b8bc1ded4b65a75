// Processes: fork, wait4 and exit statuses, pipes between processes, execve,
// vfork, process ids and groups.
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "child") == 0) {
    printf("exec'd child with %s\n", argc > 2 ? argv[2] : "nothing");
    return 7;
  }
  CHECK(getppid() >= 0);
  pid_t self = getpid();
  CHECK(self > 0 && gettid() == self);

  int status;
  pid_t c = fork();
  if (c == 0) _exit(3);
  CHECK(c > 0 && c != self);
  CHECK(waitpid(c, &status, 0) == c && WIFEXITED(status) && WEXITSTATUS(status) == 3);
  CHECK(waitpid(-1, &status, WNOHANG) == -1 && errno == ECHILD);

  int fds[2];
  CHECK(pipe(fds) == 0);
  c = fork();
  if (c == 0) {
    close(fds[0]);
    for (int i = 0; i < 1000; ++i) {
      char line[32];
      int n = snprintf(line, sizeof(line), "line %d\n", i);
      if (write(fds[1], line, n) != n) _exit(1);
    }
    _exit(0);
  }
  close(fds[1]);
  char buf[4096];
  size_t total = 0;
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) total += n;
  CHECK(n == 0 && total == 8890);  // all 1000 lines, then EOF
  CHECK(waitpid(c, &status, 0) == c && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  close(fds[0]);

  // A reader gone: SIGPIPE ends the writer.
  CHECK(pipe(fds) == 0);
  c = fork();
  if (c == 0) {
    close(fds[0]);
    write(fds[1], "x", 1);
    _exit(0);
  }
  close(fds[0]);
  close(fds[1]);
  CHECK(waitpid(c, &status, 0) == c);

  fflush(stdout);  // before fork: the exec'd child writes the next line itself
  c = fork();
  if (c == 0) {
    char* args[] = {argv[0], "child", "an argument", NULL};
    execv(argv[0], args);
    _exit(99);
  }
  fflush(stdout);
  CHECK(waitpid(c, &status, 0) == c && WIFEXITED(status) && WEXITSTATUS(status) == 7);

  c = vfork();
  if (c == 0) _exit(5);
  CHECK(waitpid(c, &status, 0) == c && WEXITSTATUS(status) == 5);

  c = fork();
  if (c == 0) {
    abort();
  }
  CHECK(waitpid(c, &status, 0) == c && WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);

  CHECK(execl("/nonexistent", "x", NULL) == -1 && errno == ENOENT);
  CHECK(setpgid(0, 0) == 0 && getpgrp() == getpid());
  return DONE();
}
