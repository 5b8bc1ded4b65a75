#pragma once
// Both ends of the command link of a two-host benchmark (rpc/bench_command.h
// has the format): BenchLink on the measuring side, serve_bench() on the
// serving side, each over an rpc::BareEnd whose ping-pong is also the
// benchmark's bare baseline. The benchmark adds its own commands (bench
// fault: region) through BenchServeHooks.
//
// Threads: a BenchLink and a serve_bench() loop each run on one thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "rpc/bare_end.h"
#include "rpc/bench_command.h"

namespace rpc {

class BenchLink {
 public:
  BenchLink(BareEnd& end, CommandSeal seal);

  // Opens a session: waits until the serving side answers a hello (it may
  // start after this side, on another host), up to `wait`.
  base::Status hello(std::chrono::milliseconds wait);
  // Timed round trips: `request` bytes (>= kCommandBytes, the echo command
  // first) answered by `reply` bytes; microseconds each. `on_reply` (if
  // set) runs on each reply inside its timed interval, before the next
  // request goes.
  using ReplyFn = std::function<base::Status(std::span<const std::byte> reply)>;
  base::StatusOr<std::vector<double>> round_trips(size_t request, size_t reply, int total,
                                                  const ReplyFn& on_reply = {});
  // A sealed command (region, stop) and its answer.
  base::Status command(BenchCommand c, std::chrono::milliseconds wait);
  base::Status stop(std::chrono::milliseconds wait) { return command({BenchCommand::kStop}, wait); }

 private:
  // The answer to command `seq`; answers to earlier commands that timed
  // out (the serving side still starting) are dropped.
  base::Status wait_answer(uint64_t seq, std::chrono::milliseconds wait);

  BareEnd& end_;
  CommandSeal seal_;
  uint64_t seq_ = 0;
  const uint64_t session_;  // echoes carry it instead of a MAC; never 0
};

struct BenchServeHooks {
  // Runs once the serving side listens.
  std::function<void()> ready;
  // Commands other than hello, echo and stop; the answer's error.
  std::function<base::Status(const BenchCommand&)> command;
  // Runs at stop, before the answer goes.
  std::function<void()> stopping;
};

// Serves commands until stop (ok), `cancel` (ECANCELED), an error, or no
// command for `idle` (ETIMEDOUT).
base::Status serve_bench(BareEnd& end, const CommandSeal& seal, std::chrono::milliseconds idle,
                         const std::atomic<bool>* cancel, const BenchServeHooks& hooks);

// The serving side in a thread of the measuring process (--role both).
// Destruction cancels it and joins.
class LocalBenchServer {
 public:
  // Serves until stop, `cancel`, or an error; calls `ready` once listening.
  using Serve = std::function<base::Status(const std::atomic<bool>* cancel,
                                           const std::function<void()>& ready)>;
  // Returns once the side listens, or with its error if it could not.
  base::Status start(Serve serve);
  // Joins; what the serving side ended with (ok if never started).
  base::Status join();
  ~LocalBenchServer();

 private:
  std::atomic<bool> cancel_{false};
  std::atomic<bool> failed_early_{false};
  std::thread thread_;
  base::Status status_;
};

}  // namespace rpc
