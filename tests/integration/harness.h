#pragma once
// Test harness for integration tests that start real `pangaea` processes:
// running the CLI to completion, starting and killing node processes
// (optionally inside a network namespace), asking nodes over their control
// plane, and making network namespaces joined by a bridge.
//
// Threads: one (the test's); a Harness owns a ControlClient bound to it.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "node/config.h"
#include "rpc/control/client.h"

namespace itest {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The pangaea binary under test (set by CMake).
const char* pangaea_binary();

struct RunResult {
  int status = -1;  // exit status, or 128+signal
  std::string out;
  std::string err;
};
// Runs `pangaea args...` to completion (killed after `timeout`).
RunResult run_pangaea(const std::vector<std::string>& args,
                      std::chrono::milliseconds timeout = 60s);

// A child process (any program) whose stdout and stderr come through one
// pipe; killed with the object if still running.
class Proc {
 public:
  explicit Proc(std::vector<std::string> args);
  ~Proc();
  Proc(const Proc&) = delete;
  Proc& operator=(const Proc&) = delete;
  // Reads output until `what` appears, EOF, or the timeout.
  bool wait_for_output(const std::string& what, std::chrono::milliseconds timeout);
  // Waits for the exit, killing it after `timeout`: the exit status,
  // 128+signal, or -1 when it had to be killed.
  int wait(std::chrono::milliseconds timeout);
  // The signal that ended it (0: it exited, runs, or was killed at a timeout).
  int signal() const { return signal_; }
  void kill9();
  const std::string& out() const { return out_; }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int signal_ = 0;
  std::string out_;
};

// A program run to its end with Proc.
struct ProcResult {
  int status = -1;  // exit status, 128+signal, or -1: it hung and was killed
  int signal = 0;   // the signal that ended it, or 0
  std::string out;  // stdout and stderr
  bool hung() const { return status == -1; }
};
ProcResult run_proc(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 60s);

// A fresh temporary directory, removed with the object.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  void write(const std::string& name, const std::string& text) const;

 private:
  std::string path_;
};

// Polls `pred` every 50 ms until it holds or `timeout` passes.
bool wait_for(std::function<bool()> pred, std::chrono::milliseconds timeout);

// Whether a TCP port of 127.0.0.1 can be bound now.
bool tcp_port_free(uint16_t port);

// The text of a cluster.toml: `count` nodes n0.. on 127.0.0.1, each at the
// first free port pair (data, data+1) from `first_port` on, each giving
// `memory` (e.g. "16MiB").
std::string loopback_cluster_toml(const std::string& cluster, const std::string& secret, int count,
                                  const std::string& memory, uint16_t first_port);

// The logs n0.log .. n<count-1>.log in `dir` (the tests' node names), each
// under a "--- nI.log" line, for failure messages.
std::string node_logs(const TempDir& dir, int count);

// Node processes started from one test.
class Nodes {
 public:
  Nodes();
  ~Nodes();  // SIGKILLs whatever still runs and removes the nodes' attach sockets

  // Starts `pangaea node --config CONFIG --name NAME`, stderr to LOG; inside
  // network namespace `netns` if not empty.
  void start(const std::string& name, const std::string& config, const std::string& log,
             const std::string& netns = "");
  void kill9(const std::string& name);
  // SIGTERM and wait; the exit status (or -1 if it had to be killed).
  int terminate(const std::string& name, std::chrono::milliseconds grace = 5s);
  bool running(const std::string& name);
  pid_t pid(const std::string& name) const { return pids_.at(name); }

  // The node's status over its control plane, or an error.
  base::StatusOr<rpc::control::NodeStatusInfo> status(const node::NodeConfig& n);
  base::StatusOr<rpc::control::StatsInfo> stats(const node::NodeConfig& n);
  // Whether `observer` answers and sees `peer` up.
  bool sees_up(const node::NodeConfig& observer, const std::string& peer);
  // Whether `observer` answers and sees `peer` down.
  bool sees_down(const node::NodeConfig& observer, const std::string& peer);
  // Whether each of the first `count` nodes of `c` sees the others up.
  bool all_see_each_other(const node::ClusterConfig& c, int count);
  // The refusals of `intruder` counted by the first `count` nodes of `c`
  // (auth_failures/rejected: by its peers for it, or by it for its peers,
  // whichever side verified the proof first).
  uint64_t refusals_of(const node::ClusterConfig& c, const std::string& intruder, int count);

 private:
  std::map<std::string, pid_t> pids_;
  // Per node: its attach socket (a node killed with SIGKILL leaves it in /tmp).
  std::map<std::string, std::string> attach_paths_;
  std::unique_ptr<rpc::control::ControlClient> client_;
};

// A loopback cluster of `count` nodes for a test: writes
// loopback_cluster_toml(...) to `dir`/cluster.toml, starts every node (stderr
// to `dir`/nI.log) and waits until they all see each other. The config, or
// an error carrying the nodes' logs.
base::StatusOr<node::ClusterConfig> start_loopback_cluster(const TempDir& dir, Nodes& nodes,
                                                           const std::string& cluster,
                                                           const std::string& secret, int count,
                                                           const std::string& memory,
                                                           uint16_t first_port);
// SIGTERMs every node of `config` still running, so they remove their sockets.
void stop_cluster(Nodes& nodes, const node::ClusterConfig& config);


// Network namespaces NAME-0..NAME-(n-1), each with an eth0 joined through
// veth pairs to one bridge in a switch namespace, addresses
// 10.99.<subnet>.(i+1)/24. Everything is removed by the destructor (and any
// left-over namespace of the same name is removed first).
class NetnsLab {
 public:
  // Returns null and sets `why` if namespaces cannot be made (not root...).
  static std::unique_ptr<NetnsLab> Create(int hosts, std::string* why);
  ~NetnsLab();
  const std::string& ns(int i) const { return names_[static_cast<size_t>(i)]; }
  std::string address(int i) const;

 private:
  NetnsLab() = default;
  std::string prefix_;
  std::string switch_ns_;
  int subnet_ = 0;
  std::vector<std::string> names_;
};

// Runs a command line with /bin/sh; returns its exit status.
int sh(const std::string& command);

}  // namespace itest
