#pragma once
// `pangaea bench guest`: guest_prog.c (getpid, open/read/close, first touch
// of fresh memory, fork+wait, pipe ping-pong, fork+exec) run natively, in our
// guest (`pangaea boot`), under User Mode Linux (linux.uml, hostfs root) and
// under gVisor (runsc --platform=ptrace do), one after the other in the same
// run, plus the raw PTRACE_SYSEMU round trip measured in this process: the
// floor of any ptrace kernel's syscall.
//
// The program and the static exec_target are embedded in the binary and
// written into a fresh temporary root directory, which is the guests' root
// (and natively their working directory).

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace CLI {
class App;
}

namespace bench {

enum class GuestEnv { kNative, kPangaea, kUml, kGvisor };
inline constexpr GuestEnv kGuestEnvs[] = {GuestEnv::kNative, GuestEnv::kPangaea, GuestEnv::kUml,
                                          GuestEnv::kGvisor};
const char* env_name(GuestEnv env);

// Rows in guest_prog's order.
inline constexpr const char* kGuestRows[] = {"getpid",    "open_read_close", "touch",
                                             "fork_wait", "pipe_pingpong",   "fork_exec"};

struct GuestBenchOptions {
  int iterations = 10000;  // getpid's count; the other rows divide it (guest_prog.c)
  // Runs our guest: these words, then the UML arguments. Empty: this
  // executable's `boot` subcommand.
  std::vector<std::string> boot_command;
  bool peers = true;  // false: UML and gVisor are "skipped"
  std::string uml = "linux.uml";
  std::string runsc = "runsc";
  int timeout_seconds = 60;  // per environment and pass
  // Passes over all environments, interleaved; each row keeps its fastest.
  int passes = 2;
};

struct RowResult {
  long iters = 0;
  double best_ns = 0;  // ns/op of the fastest round
  double median_ns = 0;
};

struct EnvResult {
  GuestEnv env{};
  // "ok", "not installed", "skipped" or "failed: why".
  std::string status;
  std::vector<std::optional<RowResult>> rows;  // indexed like kGuestRows
  double seconds = 0;                          // wall time of the whole run
  bool ok() const { return status == "ok"; }
};

struct SysemuResult {
  double raw_ns = 0;   // PTRACE_SYSEMU + waitpid, the tracee's next syscall stop
  double regs_ns = 0;  // the same with PTRACE_GETREGS + PTRACE_POKEUSER(rax) in between
};

struct GuestBenchReport {
  int iterations = 0;
  int passes = 0;
  std::string load_average;  // /proc/loadavg's first three fields, at start
  SysemuResult sysemu;
  std::vector<EnvResult> envs;  // indexed like kGuestEnvs
};

// Parses guest_prog's "GB ..." lines out of console output (other lines,
// \r and kernel messages are ignored). Fails without "GB done" or on
// "GB error".
base::StatusOr<std::vector<std::optional<RowResult>>> parse_guest_output(const std::string& out);

// PTRACE_SYSEMU round trips against a child looping on getpid; best of
// three rounds of `iterations`. run_guest_bench keeps the best over passes.
base::StatusOr<SysemuResult> measure_sysemu(int iterations);

base::StatusOr<GuestBenchReport> run_guest_bench(const GuestBenchOptions& options);

std::string format_guest_table(const GuestBenchReport& report);
std::string format_guest_json(const GuestBenchReport& report);

// The `pangaea bench guest` subcommand (listed in tools/bench_command.cc).
void add_guest_bench(CLI::App& bench, int& exit_code);

}  // namespace bench
