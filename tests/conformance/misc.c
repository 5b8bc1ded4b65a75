// Identity, time, randomness, limits and uname.
#define _GNU_SOURCE
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

int main(void) {
  struct utsname u;
  CHECK(uname(&u) == 0 && strcmp(u.sysname, "Linux") == 0 && strcmp(u.machine, "x86_64") == 0);
  struct timespec a, b;
  CHECK(clock_gettime(CLOCK_MONOTONIC, &a) == 0);
  struct timespec nap = {0, 2000000};
  CHECK(nanosleep(&nap, NULL) == 0);
  CHECK(clock_gettime(CLOCK_MONOTONIC, &b) == 0);
  CHECK(b.tv_sec > a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec > a.tv_nsec));
  CHECK(time(NULL) > 1600000000);
  unsigned char r[32] = {0};
  CHECK(getrandom(r, sizeof(r), 0) == sizeof(r));
  int nonzero = 0;
  for (size_t i = 0; i < sizeof(r); ++i) nonzero |= r[i];
  CHECK(nonzero);
  struct rlimit rl;
  CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > 0);
  CHECK(getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur > 0);
  mode_t old = umask(027);
  CHECK(umask(old) == 027);
  CHECK(sysconf(_SC_PAGESIZE) == 4096);
  return DONE();
}
