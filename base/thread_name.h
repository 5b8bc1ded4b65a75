#pragma once
// Names the calling thread for `top -H`, `ps -L`, perf and /proc/PID/task/*/comm.
// Linux keeps 15 bytes; longer names are cut.

#include <pthread.h>

#include <cstring>

namespace base {

inline void name_this_thread(const char* name) {
  char cut[16];
  std::strncpy(cut, name, sizeof cut - 1);
  cut[sizeof cut - 1] = '\0';
  (void)::pthread_setname_np(::pthread_self(), cut);
}

}  // namespace base
