#pragma once
/* The syscalls a stub hands to the kernel as seccomp user notifications
 * instead of ptrace stops (fast_syscalls.h): they only read values of the
 * calling thread that cannot change while it runs (platform::ThreadIds).
 * Plain C: the stub (stub.c) builds its filter from this list. The filter
 * exempts the injection site, so the tracer can still inject any of these
 * into a stub (tests inject getpid). */

#define PANGAEA_FAST_SYSCALLS \
  { 39 /* getpid */, 186 /* gettid */, 110 /* getppid */, 111 /* getpgrp */, \
    102 /* getuid */, 107 /* geteuid */, 104 /* getgid */, 108 /* getegid */ }
