#pragma once
// The machine's load average as /proc/loadavg gives it ("0.66 0.67 0.93":
// 1, 5 and 15 minutes), for benchmarks to say how busy the machine was;
// empty if it cannot be read.

#include <fstream>
#include <string>

namespace base {

inline std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  if (!(in >> a >> b >> c)) return {};
  return a + " " + b + " " + c;
}

}  // namespace base
