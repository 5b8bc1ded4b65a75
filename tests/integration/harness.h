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

 private:
  std::map<std::string, pid_t> pids_;
  // Per node: its attach socket (a node killed with SIGKILL leaves it in /tmp).
  std::map<std::string, std::string> attach_paths_;
  std::unique_ptr<rpc::control::ControlClient> client_;
};

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
