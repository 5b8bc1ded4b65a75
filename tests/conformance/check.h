// Shared by the conformance programs: CHECK prints one line per check (the
// output compared natively and in the guest) and counts failures, so a test
// that fails natively is recognised (exit status 1) and not counted.
#pragma once
#include <errno.h>
#include <stdio.h>
#include <string.h>

static int g_failures;

#define CHECK(cond)                                          \
  do {                                                       \
    int ok_ = (cond);                                        \
    printf("%s %s\n", ok_ ? "ok" : "FAIL", #cond);           \
    if (!ok_) {                                              \
      printf("  errno=%d (%s)\n", errno, strerror(errno));   \
      g_failures++;                                          \
    }                                                        \
  } while (0)

#define DONE() (fflush(stdout), g_failures ? 1 : 0)
