#include "kernel/task/procfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <vector>

#include "kernel/fs/memory_file.h"
#include "kernel/task/kernel.h"

namespace kernel::task {
namespace {

using base::Errno;
using base::Result;

enum class Kind { kDir, kFile, kLink };

struct Node {
  Kind kind = Kind::kFile;
  std::string text;                   // kFile contents, kLink target
  std::vector<fs::DirEntry> entries;  // kDir
  std::shared_ptr<fs::File> fd_file;  // kLink of /proc/PID/fd/N
};

// The components after "/proc".
std::vector<std::string> split(const std::string& full) {
  std::string path = full.substr(5);
  std::vector<std::string> out;
  size_t i = 1;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

bool parse_int(const std::string& s, int& v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size();
}

char state_letter(const Process& t) {
  if (t.zombie()) return 'Z';
  if (t.stopped) return 'T';
  for (Thread* th : t.live_threads())
    if (th->state == Thread::State::kRunnable) return 'R';
  return 'S';
}

std::string host_file(const char* path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string maps_of(const Process& t) {
  std::string out;
  if (!t.mm) return out;
  for (const auto& [start, v] : t.mm->vmas()) {
    out += fmt::format("{:08x}-{:08x} {}{}{}{} {:08x} 00:00 0", v.start, v.end,
                       v.prot & PROT_READ ? 'r' : '-', v.prot & PROT_WRITE ? 'w' : '-',
                       v.prot & PROT_EXEC ? 'x' : '-', v.shared ? 's' : 'p',
                       v.file ? v.file_offset : 0);
    if (v.end == mm::kStackTop) out += "                          [stack]";
    out += '\n';
  }
  return out;
}

std::string stat_of(Kernel& k, const Process& t) {
  uint64_t rss = t.mm ? t.mm->resident_pages() : 0;
  uint64_t vsize = 0;
  if (t.mm)
    for (const auto& [s, v] : t.mm->vmas()) vsize += v.end - v.start;
  (void)k;
  // Fields 1..52 of proc(5); what the kernel does not track is 0.
  return fmt::format(
      "{} ({}) {} {} {} {} 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 0 {} {} 18446744073709551615 0 0 0 0 "
      "0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
      t.pid, t.comm, state_letter(t), t.ppid, t.pgid, t.sid, vsize, rss);
}

// `th`: the thread shown (/proc/PID/task/TID/status), else the first live one.
std::string status_of(const Process& t, const Thread* th = nullptr) {
  uint64_t rss = t.mm ? t.mm->resident_pages() * 4 : 0;
  auto threads = t.live_threads();
  if (!th && !threads.empty()) th = threads.front();
  return fmt::format(
      "Name:\t{}\nState:\t{}\nTgid:\t{}\nPid:\t{}\nPPid:\t{}\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n"
      "VmRSS:\t{} kB\nThreads:\t{}\nSigPnd:\t{:016x}\nShdPnd:\t{:016x}\nSigBlk:\t{:016x}\n",
      t.comm, state_letter(t), t.pid, th ? th->tid : t.pid, t.ppid, rss, threads.size(),
      th ? th->pending : 0, t.pending, th ? th->sigmask : 0);
}

Result<Node> resolve(Kernel& k, Process& p, const std::vector<std::string>& parts, bool follow) {
  Node n;
  if (parts.empty()) {
    n.kind = Kind::kDir;
    n.entries = {{".", DT_DIR, 1}, {"..", DT_DIR, 1}, {"self", DT_LNK, 2}};
    for (const char* f : {"meminfo", "cpuinfo", "uptime", "version", "mounts", "loadavg"})
      n.entries.push_back({f, DT_REG, 3});
    for (Process* t : k.children_of(-1))
      n.entries.push_back({std::to_string(t->pid), DT_DIR, uint64_t(100 + t->pid)});
    return n;
  }
  const std::string& top = parts[0];
  if (parts.size() == 1 && top == "self" && !follow) {
    n.kind = Kind::kLink;
    n.text = std::to_string(p.pid);
    return n;
  }
  if (parts.size() == 1) {
    n.kind = Kind::kFile;
    if (top == "meminfo") {
      uint64_t total = k.frames().frame_count() * 4, used = k.frames().used() * 4;
      n.text = fmt::format(
          "MemTotal:       {:8} kB\nMemFree:        {:8} kB\nMemAvailable:   {:8} kB\n"
          "Buffers:               0 kB\nCached:                0 kB\nSwapTotal:             0 kB\n"
          "SwapFree:              0 kB\n",
          total, total - used, total - used);
      return n;
    }
    if (top == "cpuinfo") {
      n.text = host_file("/proc/cpuinfo");
      return n;
    }
    if (top == "uptime") {
      double up = k.uptime();
      n.text = fmt::format("{:.2f} {:.2f}\n", up, up);
      return n;
    }
    if (top == "version") {
      n.text = "Linux version 6.1.0-pangaea (pangaea) #1 SMP PREEMPT pangaea\n";
      return n;
    }
    if (top == "mounts") {
      n.text = "/dev/root / hostfs rw 0 0\nproc /proc proc rw 0 0\n";
      return n;
    }
    if (top == "loadavg") {
      n.text = fmt::format("0.00 0.00 0.00 1/{} {}\n", k.children_of(-1).size(), p.pid);
      return n;
    }
  }
  int pid = 0;
  if (top == "self")
    pid = p.pid;
  else if (!parse_int(top, pid))
    return Errno(ENOENT);
  Process* t = k.find(pid);
  if (!t) return Errno(ENOENT);
  if (parts.size() == 1) {
    n.kind = Kind::kDir;
    n.entries = {{".", DT_DIR, 1}, {"..", DT_DIR, 1}, {"fd", DT_DIR, 4}, {"task", DT_DIR, 8}};
    for (const char* f : {"cmdline", "comm", "stat", "status", "maps"})
      n.entries.push_back({f, DT_REG, 5});
    n.entries.push_back({"exe", DT_LNK, 6});
    n.entries.push_back({"cwd", DT_LNK, 6});
    return n;
  }
  const std::string& what = parts[1];
  if (what == "task") {
    // One directory per live thread, with its comm, stat and status.
    n.kind = Kind::kDir;
    if (parts.size() == 2) {
      n.entries = {{".", DT_DIR, 1}, {"..", DT_DIR, 1}};
      for (Thread* th : t->live_threads())
        n.entries.push_back({std::to_string(th->tid), DT_DIR, uint64_t(100 + th->tid)});
      return n;
    }
    int tid;
    Thread* th = parse_int(parts[2], tid) ? k.find_thread(tid) : nullptr;
    if (!th || th->process != t) return Errno(ENOENT);
    if (parts.size() == 3) {
      n.entries = {{".", DT_DIR, 1}, {"..", DT_DIR, 1}};
      for (const char* f : {"comm", "stat", "status"}) n.entries.push_back({f, DT_REG, 5});
      return n;
    }
    if (parts.size() != 4) return Errno(ENOENT);
    n.kind = Kind::kFile;
    if (parts[3] == "comm")
      n.text = t->comm + "\n";
    else if (parts[3] == "stat")
      n.text = stat_of(k, *t);
    else if (parts[3] == "status")
      n.text = status_of(*t, th);
    else
      return Errno(ENOENT);
    return n;
  }
  if (parts.size() == 2) {
    n.kind = Kind::kFile;
    if (what == "cmdline") {
      for (const auto& a : t->argv) n.text += a + '\0';
      return n;
    }
    if (what == "comm") {
      n.text = t->comm + "\n";
      return n;
    }
    if (what == "stat") {
      n.text = stat_of(k, *t);
      return n;
    }
    if (what == "status") {
      n.text = status_of(*t);
      return n;
    }
    if (what == "maps") {
      n.text = maps_of(*t);
      return n;
    }
    if (what == "exe" || what == "cwd") {
      n.kind = Kind::kLink;
      n.text = what == "exe" ? t->exe : t->cwd;
      return n;
    }
    if (what == "fd") {
      n.kind = Kind::kDir;
      n.entries = {{".", DT_DIR, 1}, {"..", DT_DIR, 1}};
      for (int fd : t->fds.open_fds()) n.entries.push_back({std::to_string(fd), DT_LNK, 7});
      return n;
    }
    return Errno(ENOENT);
  }
  if (parts.size() == 3 && what == "fd") {
    int fd;
    if (!parse_int(parts[2], fd)) return Errno(ENOENT);
    auto f = t->fds.get(fd);
    if (!f.ok()) return Errno(ENOENT);
    n.kind = Kind::kLink;
    n.fd_file = *f;
    n.text = (*f)->path().empty()
                 ? fmt::format("pipe:[{}]", reinterpret_cast<uintptr_t>(f->get()) & 0xffffff)
                 : (*f)->path();
    return n;
  }
  return Errno(ENOENT);
}

}  // namespace

bool is_proc_path(const std::string& path) {
  return path == "/proc" || path.compare(0, 6, "/proc/") == 0;
}

Result<ProcOpen> proc_open(Kernel& k, Process& p, const std::string& path, int flags) {
  Node n = TRY(resolve(k, p, split(path), true));
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC))) return Errno(EACCES);
  ProcOpen out;
  switch (n.kind) {
    case Kind::kDir:
      out.file = fs::make_dir_file(path, std::move(n.entries));
      return out;
    case Kind::kFile:
      if (flags & O_DIRECTORY) return Errno(ENOTDIR);
      out.file = fs::make_text_file(path, std::move(n.text));
      return out;
    case Kind::kLink:
      if (flags & O_NOFOLLOW) return Errno(ELOOP);
      if (n.fd_file) {
        out.file = n.fd_file;
        return out;
      }
      out.redirect = n.text;
      return out;
  }
  return Errno(ENOENT);
}

Result<struct stat> proc_stat(Kernel& k, Process& p, const std::string& path, bool follow) {
  Node n = TRY(resolve(k, p, split(path), follow));
  struct stat st = {};
  st.st_nlink = 1;
  st.st_blksize = 4096;
  switch (n.kind) {
    case Kind::kDir:
      st.st_mode = S_IFDIR | 0555;
      st.st_nlink = 2;
      break;
    case Kind::kFile:
      st.st_mode = S_IFREG | 0444;
      break;
    case Kind::kLink:
      if (follow && n.fd_file) return n.fd_file->stat();
      if (follow) return Errno(ENOENT);  // the caller follows exe/cwd itself
      st.st_mode = S_IFLNK | 0777;
      st.st_size = static_cast<off_t>(n.text.size());
      break;
  }
  return st;
}

Result<std::string> proc_readlink(Kernel& k, Process& p, const std::string& path) {
  Node n = TRY(resolve(k, p, split(path), false));
  if (n.kind != Kind::kLink) return Errno(EINVAL);
  return n.text;
}

}  // namespace kernel::task
