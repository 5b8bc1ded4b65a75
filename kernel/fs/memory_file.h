#pragma once
// Files whose contents the kernel makes on open: a read-only text file
// (/proc/meminfo...) and a directory listing (/proc, /proc/PID). Both are
// snapshots taken at open time, as reading /proc in one go is on Linux.

#include <memory>
#include <string>
#include <vector>

#include "kernel/fs/file.h"

namespace kernel::fs {

struct DirEntry {
  std::string name;
  unsigned char type;  // DT_DIR, DT_REG, DT_LNK
  uint64_t ino;
};

std::shared_ptr<File> make_text_file(std::string path, std::string contents, mode_t mode = 0444);
std::shared_ptr<File> make_dir_file(std::string path, std::vector<DirEntry> entries);

}  // namespace kernel::fs
