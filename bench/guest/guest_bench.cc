// `pangaea bench guest` (guest_bench.h): prepares the root directory, runs
// guest_prog in each environment as a child process with a timeout, parses
// its "GB" lines and prints the table.

#include "bench/guest/guest_bench.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "base/load_average.h"
#include "tools/exit_codes.h"

extern "C" {
extern const char pangaea_guest_prog_start[], pangaea_guest_prog_end[];
extern const char pangaea_exec_target_start[], pangaea_exec_target_end[];
}

namespace bench {

namespace fs = std::filesystem;

const char* env_name(GuestEnv env) {
  switch (env) {
    case GuestEnv::kNative:
      return "native";
    case GuestEnv::kPangaea:
      return "pangaea";
    case GuestEnv::kUml:
      return "UML";
    case GuestEnv::kGvisor:
      return "gVisor";
  }
  return "?";
}

namespace {

constexpr size_t kRowCount = std::size(kGuestRows);

int row_index(const std::string& name) {
  for (size_t i = 0; i < kRowCount; ++i)
    if (name == kGuestRows[i]) return static_cast<int>(i);
  return -1;
}

base::Status write_file(const fs::path& path, const char* begin, const char* end, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return base::Error::from_errno("create " + path.string());
  for (const char* p = begin; p < end;) {
    ssize_t n = ::write(fd, p, end - p);
    if (n < 0) {
      if (errno == EINTR) continue;
      auto e = base::Error::from_errno("write " + path.string());
      ::close(fd);
      return e;
    }
    p += n;
  }
  ::close(fd);
  return {};
}

// The root: guest_prog, exec_target, 4 KiB of bench_data, tmp/.
base::StatusOr<fs::path> prepare_root() {
  char tmpl[] = "/tmp/pangaea-bench-guest.XXXXXX";
  if (!::mkdtemp(tmpl)) return base::Error::from_errno("mkdtemp");
  fs::path dir(tmpl);
  ::chmod(dir.c_str(), 0755);
  TRY(write_file(dir / "guest_prog", pangaea_guest_prog_start, pangaea_guest_prog_end, 0755));
  TRY(write_file(dir / "exec_target", pangaea_exec_target_start, pangaea_exec_target_end, 0755));
  std::string data(4096, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131 + 7);
  TRY(write_file(dir / "bench_data", data.data(), data.data() + data.size(), 0644));
  std::error_code ec;
  fs::create_directories(dir / "tmp", ec);
  return dir;
}

// PATH lookup; empty when not found.
std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = ::getenv("PATH");
  std::stringstream ss(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    std::string p = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

struct Spawn {
  std::vector<std::string> argv;
  std::string cwd = "/";
  std::vector<std::string> env;  // NAME=value added to ours
  fs::path output;               // stdout and stderr go here
};

// Runs the command in its own process group; kills the group after
// `timeout_seconds`. Returns the wait status, or an error on a timeout.
base::StatusOr<int> run(const Spawn& s, int timeout_seconds) {
  std::vector<char*> argv;
  for (const auto& a : s.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) env_store.emplace_back(*e);
  for (const auto& e : s.env) env_store.push_back(e);
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);
  int out = ::open(s.output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) return base::Error::from_errno("create " + s.output.string());
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out);
    return base::Error::from_errno("fork");
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    int in = ::open("/dev/null", O_RDONLY);
    if (in < 0 || ::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0) ::_exit(126);
    if (::chdir(s.cwd.c_str()) < 0) ::_exit(126);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(out);
  ::setpgid(pid, pid);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return base::Error::from_errno("waitpid");
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return base::Error(fmt::format("timed out after {} s", timeout_seconds), ETIMEDOUT);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // Whatever the command left behind in its group (UML's helpers).
  ::kill(-pid, SIGKILL);
  return status;
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string last_lines(const std::string& text, int n) {
  size_t pos = text.size();
  while (n-- > 0 && pos > 0) {
    size_t nl = text.rfind('\n', pos - 1);
    if (nl == std::string::npos) {
      pos = 0;
      break;
    }
    pos = nl;
  }
  std::string s = text.substr(pos);
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

std::string self_exe() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "/proc/self/exe" : p.string();
}

EnvResult run_env(GuestEnv env, const GuestBenchOptions& o, const fs::path& root) {
  EnvResult r;
  r.env = env;
  r.rows.resize(kRowCount);
  std::string iters = std::to_string(o.iterations);
  std::string rootflags = "rootflags=" + root.string();
  Spawn s;
  s.output = root.parent_path() / (root.filename().string() + "." + env_name(env) + ".out");
  switch (env) {
    case GuestEnv::kNative:
      s.argv = {(root / "guest_prog").string(), iters, root.string()};
      s.cwd = root.string();
      break;
    case GuestEnv::kPangaea:
      s.argv =
          o.boot_command.empty() ? std::vector<std::string>{self_exe(), "boot"} : o.boot_command;
      for (const char* a : {"mem=256M", "root=/dev/root", "rootfstype=hostfs"}) s.argv.push_back(a);
      s.argv.push_back(rootflags);
      for (const char* a : {"init=/guest_prog", "con0=fd:0,fd:1", "--"}) s.argv.push_back(a);
      s.argv.push_back(iters);
      s.argv.push_back("/");
      break;
    case GuestEnv::kUml: {
      std::string uml = o.peers ? find_program(o.uml) : "";
      if (!o.peers || uml.empty()) {
        r.status = o.peers ? "not installed" : "skipped";
        return r;
      }
      // UML keeps guest RAM in a file under TMPDIR: tmpfs when there is one.
      fs::path tmp = root / "tmp";
      if (::access("/dev/shm", W_OK) == 0) tmp = "/dev/shm";
      s.env = {"TMPDIR=" + tmp.string()};
      s.argv = {uml,
                "mem=256M",
                "root=/dev/root",
                "rootfstype=hostfs",
                rootflags,
                "rw",
                "quiet",
                "init=/guest_prog",
                "con=null",
                "ssl=null",
                "con0=fd:0,fd:1",
                "uml_dir=" + (root / "tmp").string(),
                fmt::format("umid=pangaea-bench-{}", ::getpid()),
                "--",
                iters,
                "/",
                "poweroff"};
      break;
    }
    case GuestEnv::kGvisor: {
      std::string runsc = o.peers ? find_program(o.runsc) : "";
      if (!o.peers || runsc.empty()) {
        r.status = o.peers ? "not installed" : "skipped";
        return r;
      }
      s.argv = {runsc,
                "--root=" + (root / "tmp" / "runsc").string(),
                "--platform=ptrace",
                "--network=none",
                "do",
                (root / "guest_prog").string(),
                iters,
                root.string()};
      s.cwd = root.string();
      break;
    }
  }
  auto t0 = std::chrono::steady_clock::now();
  auto status = run(s, o.timeout_seconds);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string out = read_all(s.output);
  std::error_code ec;
  fs::remove(s.output, ec);
  if (!status.ok()) {
    r.status = "failed: " + status.error().message();
    return r;
  }
  auto rows = parse_guest_output(out);
  if (!rows.ok()) {
    r.status = fmt::format("failed: {} (wait status {:#x}; output ends: {})",
                           rows.error().message(), *status, last_lines(out, 3));
    return r;
  }
  r.rows = std::move(*rows);
  r.status = "ok";
  return r;
}

std::string format_ns(double ns) {
  if (ns >= 1e6) return fmt::format("{:.2f} ms", ns / 1e6);
  if (ns >= 1e3) return fmt::format("{:.2f} us", ns / 1e3);
  return fmt::format("{:.0f} ns", ns);
}

const std::optional<RowResult>& cell(const GuestBenchReport& r, GuestEnv env, size_t row) {
  return r.envs[static_cast<size_t>(env)].rows[row];
}

// pangaea / env for one row, when both ran.
std::optional<double> ratio(const GuestBenchReport& r, GuestEnv env, size_t row) {
  const auto& ours = cell(r, GuestEnv::kPangaea, row);
  const auto& theirs = cell(r, env, row);
  if (!ours || !theirs || theirs->best_ns <= 0) return std::nullopt;
  return ours->best_ns / theirs->best_ns;
}

}  // namespace

base::StatusOr<std::vector<std::optional<RowResult>>> parse_guest_output(const std::string& out) {
  std::vector<std::optional<RowResult>> rows(kRowCount);
  bool done = false;
  std::stringstream ss(out);
  std::string line;
  while (std::getline(ss, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    size_t at = line.find("GB ");
    if (at == std::string::npos) continue;
    std::stringstream ls(line.substr(at + 3));
    std::string name;
    ls >> name;
    if (name == "done") {
      done = true;
      continue;
    }
    if (name == "error") return base::Error("guest_prog: " + line.substr(at + 9));
    int i = row_index(name);
    if (i < 0) continue;
    RowResult row;
    std::string field;
    int seen = 0;
    while (ls >> field) {
      size_t eq = field.find('=');
      if (eq == std::string::npos) continue;
      std::string key = field.substr(0, eq), value = field.substr(eq + 1);
      char* end = nullptr;
      double v = std::strtod(value.c_str(), &end);
      if (end == value.c_str()) continue;
      if (key == "iters") row.iters = static_cast<long>(v), seen |= 1;
      if (key == "best_ns") row.best_ns = v, seen |= 2;
      if (key == "median_ns") row.median_ns = v, seen |= 4;
    }
    if (seen != 7) return base::Error("malformed line: " + line.substr(at));
    rows[i] = row;
  }
  if (!done) return base::Error("no \"GB done\" line: the program did not finish");
  for (size_t i = 0; i < kRowCount; ++i)
    if (!rows[i]) return base::Error(std::string("no result for row ") + kGuestRows[i]);
  return rows;
}

// Keeps, per row, the pass with the fastest best round: the machine is
// shared, and a burst of load during one pass should not decide the row.
void merge_pass(EnvResult& into, EnvResult pass) {
  into.seconds += pass.seconds;
  if (into.status.empty() || (into.ok() && !pass.ok())) {
    pass.seconds = into.seconds;
    into = std::move(pass);
    return;
  }
  if (!into.ok()) return;
  for (size_t i = 0; i < into.rows.size(); ++i)
    if (pass.rows[i] && (!into.rows[i] || pass.rows[i]->best_ns < into.rows[i]->best_ns))
      into.rows[i] = pass.rows[i];
}

base::StatusOr<GuestBenchReport> run_guest_bench(const GuestBenchOptions& o) {
  GuestBenchReport report;
  report.iterations = o.iterations;
  report.passes = std::max(o.passes, 1);
  report.load_average = base::load_average();
  fs::path root = TRY(prepare_root());
  report.envs.resize(std::size(kGuestEnvs));
  report.sysemu = {1e300, 1e300};
  // Each pass runs every environment once, interleaved with the raw SYSEMU
  // measurement, so all of them see the same spread of load.
  for (int pass = 0; pass < report.passes; ++pass) {
    merge_pass(report.envs[0], run_env(GuestEnv::kNative, o, root));
    auto sysemu = measure_sysemu(o.iterations);
    if (!sysemu.ok()) {
      std::error_code ec;
      fs::remove_all(root, ec);
      return sysemu.error();
    }
    report.sysemu.raw_ns = std::min(report.sysemu.raw_ns, sysemu->raw_ns);
    report.sysemu.regs_ns = std::min(report.sysemu.regs_ns, sysemu->regs_ns);
    for (size_t i = 1; i < std::size(kGuestEnvs); ++i)
      merge_pass(report.envs[i], run_env(kGuestEnvs[i], o, root));
  }
  std::error_code ec;
  fs::remove_all(root, ec);
  return report;
}

std::string format_guest_table(const GuestBenchReport& r) {
  std::string s = fmt::format(
      "pangaea bench guest: --iterations {} (per row in the iters column), best of {} passes x 3 "
      "rounds, ns/op; load average {}\n\n",
      r.iterations, r.passes, r.load_average);
  s += fmt::format("{:<16} {:>6} {:>10} {:>10} {:>13} {:>13} {:>9} {:>9} {:>9}\n", "row", "iters",
                   "native", "pangaea", "UML", "gVisor", "p/native", "p/UML", "p/gVisor");
  auto value = [&](GuestEnv env, size_t row) -> std::string {
    const EnvResult& e = r.envs[static_cast<size_t>(env)];
    if (!e.ok()) return e.status.rfind("failed", 0) == 0 ? "failed" : e.status;
    return format_ns(e.rows[row]->best_ns);
  };
  auto rat = [&](GuestEnv env, size_t row) -> std::string {
    auto x = ratio(r, env, row);
    return x ? fmt::format("{:.2f}x", *x) : "-";
  };
  for (size_t i = 0; i < kRowCount; ++i) {
    long iters = 0;
    for (const auto& e : r.envs)
      if (e.ok()) iters = e.rows[i]->iters;
    s += fmt::format("{:<16} {:>6} {:>10} {:>10} {:>13} {:>13} {:>9} {:>9} {:>9}\n", kGuestRows[i],
                     iters, value(GuestEnv::kNative, i), value(GuestEnv::kPangaea, i),
                     value(GuestEnv::kUml, i), value(GuestEnv::kGvisor, i),
                     rat(GuestEnv::kNative, i), rat(GuestEnv::kUml, i), rat(GuestEnv::kGvisor, i));
  }
  s += fmt::format("\nraw PTRACE_SYSEMU round trip: {}  (with GETREGS+POKEUSER rax: {})\n",
                   format_ns(r.sysemu.raw_ns), format_ns(r.sysemu.regs_ns));
  const auto& gp = cell(r, GuestEnv::kPangaea, 0);
  if (gp && r.sysemu.raw_ns > 0) {
    double x = gp->best_ns / r.sysemu.raw_ns;
    s += fmt::format("getpid in pangaea / raw SYSEMU round trip: {:.2f}x (target <= 1.25x: {})\n",
                     x, x <= 1.25 ? "met" : "missed");
  }
  // Target 2: every row but getpid faster than both peers.
  if (r.envs[static_cast<size_t>(GuestEnv::kUml)].ok() &&
      r.envs[static_cast<size_t>(GuestEnv::kGvisor)].ok() &&
      r.envs[static_cast<size_t>(GuestEnv::kPangaea)].ok()) {
    std::string slower;
    for (size_t i = 1; i < kRowCount; ++i) {
      for (GuestEnv peer : {GuestEnv::kUml, GuestEnv::kGvisor}) {
        auto x = ratio(r, peer, i);
        if (x && *x >= 1.0)
          slower += fmt::format("{}{} ({:.2f}x {})", slower.empty() ? "" : ", ", kGuestRows[i], *x,
                                env_name(peer));
      }
    }
    s += slower.empty() ? "every other row faster than UML and gVisor: met\n"
                        : "every other row faster than UML and gVisor: missed: " + slower + "\n";
  }
  for (const auto& e : r.envs)
    if (!e.ok() && e.status != "skipped" && e.status != "not installed")
      s += fmt::format("{}: {}\n", env_name(e.env), e.status);
  return s;
}

std::string format_guest_json(const GuestBenchReport& r) {
  auto num = [](std::optional<double> v) {
    return v ? fmt::format("{:.3f}", *v) : std::string("null");
  };
  auto quote = [](const std::string& in) {
    std::string o = "\"";
    for (char c : in) {
      if (c == '"' || c == '\\') o += '\\';
      if (static_cast<unsigned char>(c) < 0x20) {
        o += fmt::format("\\u{:04x}", c);
        continue;
      }
      o += c;
    }
    return o + "\"";
  };
  std::string s = fmt::format("{{\"iterations\": {}, \"passes\": {}, \"load_average\": {},\n",
                              r.iterations, r.passes, quote(r.load_average));
  s += fmt::format(" \"sysemu_raw_ns\": {:.1f}, \"sysemu_regs_ns\": {:.1f},\n", r.sysemu.raw_ns,
                   r.sysemu.regs_ns);
  const auto& gp = cell(r, GuestEnv::kPangaea, 0);
  s += fmt::format(
      " \"getpid_vs_sysemu_ratio\": {},\n",
      num(gp && r.sysemu.raw_ns > 0 ? std::optional(gp->best_ns / r.sysemu.raw_ns) : std::nullopt));
  s += " \"environments\": {";
  for (size_t e = 0; e < r.envs.size(); ++e)
    s += fmt::format("{}{}: {{\"status\": {}, \"seconds\": {:.2f}}}", e ? ", " : "",
                     quote(env_name(r.envs[e].env)), quote(r.envs[e].status), r.envs[e].seconds);
  s += "},\n \"rows\": [\n";
  for (size_t i = 0; i < kRowCount; ++i) {
    s += fmt::format("  {{\"row\": \"{}\"", kGuestRows[i]);
    for (size_t e = 0; e < r.envs.size(); ++e) {
      const auto& c = r.envs[e].rows[i];
      std::string name = env_name(r.envs[e].env);
      s += fmt::format(", \"{}_ns\": {}, \"{}_median_ns\": {}, \"{}_iters\": {}", name,
                       num(c ? std::optional(c->best_ns) : std::nullopt), name,
                       num(c ? std::optional(c->median_ns) : std::nullopt), name,
                       c ? std::to_string(c->iters) : "null");
    }
    s += fmt::format(
        ", \"pangaea_vs_native\": {}, \"pangaea_vs_uml\": {}, \"pangaea_vs_gvisor\": {}}}{}\n",
        num(ratio(r, GuestEnv::kNative, i)), num(ratio(r, GuestEnv::kUml, i)),
        num(ratio(r, GuestEnv::kGvisor, i)), i + 1 < kRowCount ? "," : "");
  }
  s += " ]}\n";
  return s;
}

void add_guest_bench(CLI::App& bench, int& exit_code) {
  struct Options {
    int iterations = 10000;
    bool json = false;
    bool no_peers = false;
    int timeout = 60;
    int passes = 2;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* cmd = bench.add_subcommand(
      "guest",
      "Guest syscalls (getpid, open/read/close, first touch, fork+wait, pipe ping-pong, "
      "fork+exec) natively, in our guest, under UML and gVisor (ptrace), and the raw "
      "PTRACE_SYSEMU round trip");
  cmd->add_option("--iterations", opts->iterations,
                  "getpid calls per round; the other rows run a fixed fraction of it")
      ->check(CLI::Range(1, 10000000));
  cmd->add_flag("--json", opts->json, "Print JSON (every value and ratio)");
  cmd->add_option("--passes", opts->passes,
                  "Runs of every environment, interleaved; each row keeps its fastest")
      ->check(CLI::Range(1, 100));
  cmd->add_flag("--no-peers", opts->no_peers, "Skip UML and gVisor");
  cmd->add_option("--timeout", opts->timeout, "Seconds allowed per environment")
      ->check(CLI::Range(1, 3600));
  cmd->callback([opts, &exit_code] {
    GuestBenchOptions o;
    o.iterations = opts->iterations;
    o.peers = !opts->no_peers;
    o.timeout_seconds = opts->timeout;
    o.passes = opts->passes;
    auto report = run_guest_bench(o);
    if (!report.ok()) {
      std::fprintf(stderr, "pangaea bench guest: %s\n", report.error().message().c_str());
      exit_code = tools::kExitFailure;
      return;
    }
    std::fputs((opts->json ? format_guest_json(*report) : format_guest_table(*report)).c_str(),
               stdout);
    // Ours and native must have run; a peer may fail without failing us.
    bool ok = report->envs[0].ok() && report->envs[1].ok();
    exit_code = ok ? tools::kExitOk : tools::kExitFailure;
  });
}

}  // namespace bench
