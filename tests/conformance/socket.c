// TCP over loopback through the host's network: a server and a client in
// two processes of the same guest, with blocking accept/connect/recv.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

int main(void) {
  int srv = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(srv >= 0);
  int one = 1;
  CHECK(setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(srv, (struct sockaddr*)&addr, sizeof(addr)) == 0);
  CHECK(listen(srv, 4) == 0);
  socklen_t len = sizeof(addr);
  CHECK(getsockname(srv, (struct sockaddr*)&addr, &len) == 0 && addr.sin_port != 0);
  fflush(stdout);
  pid_t c = fork();
  if (c == 0) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(s, (struct sockaddr*)&addr, sizeof(addr)) != 0) _exit(1);
    char buf[16] = {0};
    if (send(s, "ping", 4, 0) != 4) _exit(2);
    struct iovec in = {buf, sizeof(buf)};
    struct msghdr m = {.msg_iov = &in, .msg_iovlen = 1};
    if (recvmsg(s, &m, MSG_WAITALL & 0) != 4 || memcmp(buf, "pong", 4) != 0) _exit(3);
    close(s);
    _exit(0);
  }
  int conn = accept(srv, NULL, NULL);
  CHECK(conn >= 0);
  char buf[16] = {0};
  CHECK(read(conn, buf, sizeof(buf)) == 4 && memcmp(buf, "ping", 4) == 0);
  struct iovec iov[2] = {{"po", 2}, {"ng", 2}};
  struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
  CHECK(sendmsg(conn, &msg, 0) == 4);
  int status;
  CHECK(waitpid(c, &status, 0) == c && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(read(conn, buf, sizeof(buf)) == 0);  // the client closed
  close(conn);
  close(srv);
  struct sockaddr_in nobody = addr;
  nobody.sin_port = htons(1);  // nothing listens on port 1
  int s = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(connect(s, (struct sockaddr*)&nobody, sizeof(nobody)) == -1 && errno == ECONNREFUSED);
  return DONE();
}
