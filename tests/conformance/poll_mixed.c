// poll/select over a pipe and a host-backed socket at once: the socket
// becoming readable must end the wait (in the guest the pipe has a kernel
// wait queue and the socket is a host fd), and a timeout must still end it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

int main(void) {
  int pipefd[2];
  CHECK(pipe(pipefd) == 0);
  int lst = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sin = {0};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sin;
  CHECK(bind(lst, (struct sockaddr*)&sin, sizeof sin) == 0);
  CHECK(listen(lst, 1) == 0);
  CHECK(getsockname(lst, (struct sockaddr*)&sin, &len) == 0);
  int cli = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(connect(cli, (struct sockaddr*)&sin, sizeof sin) == 0);
  int srv = accept(lst, NULL, NULL);
  CHECK(srv >= 0);

  // Nothing comes: a 150 ms timeout ends the wait with 0.
  struct pollfd fds[2] = {{pipefd[0], POLLIN, 0}, {srv, POLLIN, 0}};
  CHECK(poll(fds, 2, 150) == 0);

  // A child writes to the socket after 100 ms; the pipe stays silent.
  pid_t pid = fork();
  if (pid == 0) {
    usleep(100000);
    (void)!write(cli, "x", 1);
    _exit(0);
  }
  int n = poll(fds, 2, -1);  // no timeout: only the socket can end it
  CHECK(n == 1);
  CHECK(fds[1].revents & POLLIN);
  CHECK(fds[0].revents == 0);
  char c = 0;
  CHECK(read(srv, &c, 1) == 1 && c == 'x');
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status));

  // select: the same with the pipe written by a child and the socket silent.
  pid = fork();
  if (pid == 0) {
    usleep(100000);
    (void)!write(pipefd[1], "y", 1);
    _exit(0);
  }
  fd_set rd;
  FD_ZERO(&rd);
  FD_SET(pipefd[0], &rd);
  FD_SET(srv, &rd);
  int maxfd = (pipefd[0] > srv ? pipefd[0] : srv) + 1;
  struct timeval tv = {10, 0};
  CHECK(select(maxfd, &rd, NULL, NULL, &tv) == 1);
  CHECK(FD_ISSET(pipefd[0], &rd) && !FD_ISSET(srv, &rd));
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
  return DONE();
}
