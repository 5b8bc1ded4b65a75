#include "tests/integration/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "rpc/control/attach_types.h"

namespace itest {

const char* pangaea_binary() { return PANGAEA_BINARY; }

namespace {

std::vector<char*> argv_of(std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return argv;
}

int decode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

RunResult run_pangaea(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  std::vector<std::string> full = {pangaea_binary()};
  full.insert(full.end(), args.begin(), args.end());
  auto argv = argv_of(full);
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  RunResult r;
  auto deadline = Clock::now() + timeout;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  bool killed = false;
  while (open_fds > 0) {
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (left <= 0 && !killed) {
      kill(pid, SIGKILL);
      killed = true;
    }
    if (poll(fds, 2, left > 0 ? left : 100) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  r.status = decode(status);
  return r;
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/pangaea-itest-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!getenv("PANGAEA_KEEP_TEST_DIRS")) std::filesystem::remove_all(path_, ec);
}

void TempDir::write(const std::string& name, const std::string& text) const {
  std::ofstream(file(name)) << text;
}

bool tcp_port_free(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sin.sin_port = htons(port);
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) == 0;
  close(fd);
  return ok;
}

Proc::Proc(std::vector<std::string> args) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return;
  auto argv = argv_of(args);
  pid_ = fork();
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  out_fd_ = fds[0];
}

Proc::~Proc() {
  if (pid_ > 0) kill9();
  if (out_fd_ >= 0) close(out_fd_);
}

bool Proc::wait_for_output(const std::string& what, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (out_.find(what) == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{out_fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    ssize_t n = read(out_fd_, buf, sizeof(buf));
    if (n <= 0) return out_.find(what) != std::string::npos;
    out_.append(buf, static_cast<size_t>(n));
  }
  return true;
}

int Proc::wait(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  wait_for_output("\x01never\x01", timeout);  // drains output until EOF
  int status = 0;
  // The pipe closes a moment before the process can be reaped.
  bool exited = wait_for(
      [&] { return waitpid(pid_, &status, WNOHANG) == pid_; },
      std::max(std::chrono::milliseconds(100),
               std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now())));
  if (!exited) {
    kill9();
    return -1;
  }
  pid_ = -1;
  signal_ = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  return decode(status);
}

void Proc::kill9() {
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

ProcResult run_proc(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  Proc p(args);
  ProcResult r;
  r.status = p.wait(timeout);
  r.signal = p.signal();
  r.out = p.out();
  return r;
}

std::string loopback_cluster_toml(const std::string& cluster, const std::string& secret, int count,
                                  const std::string& memory, uint16_t first_port) {
  std::string text = fmt::format("[cluster]\nname = \"{}\"\nsecret = \"{}\"\n", cluster, secret);
  for (int i = 0, p = first_port; i < count && p < 65000; p += 2) {
    if (!tcp_port_free(static_cast<uint16_t>(p)) || !tcp_port_free(static_cast<uint16_t>(p + 1)))
      continue;
    text += fmt::format("[[node]]\nname = \"n{}\"\naddress = \"127.0.0.1:{}\"\nmemory = \"{}\"\n",
                        i++, p, memory);
  }
  return text;
}

base::StatusOr<node::ClusterConfig> start_loopback_cluster(const TempDir& dir, Nodes& nodes,
                                                           const std::string& cluster,
                                                           const std::string& secret, int count,
                                                           const std::string& memory,
                                                           uint16_t first_port) {
  dir.write("cluster.toml", loopback_cluster_toml(cluster, secret, count, memory, first_port));
  node::ClusterConfig config = TRY(node::load_config(dir.file("cluster.toml")));
  for (const auto& n : config.nodes) nodes.start(n.name, config.source, dir.file(n.name + ".log"));
  if (!wait_for([&] { return nodes.all_see_each_other(config, count); }, 20s)) {
    return base::Error("the nodes did not all see each other in 20 s\n" + node_logs(dir, count),
                       ETIMEDOUT);
  }
  return config;
}

void stop_cluster(Nodes& nodes, const node::ClusterConfig& config) {
  for (const auto& n : config.nodes) {
    if (nodes.running(n.name)) nodes.terminate(n.name);
  }
}

std::string node_logs(const TempDir& dir, int count) {
  std::string out;
  for (int i = 0; i < count; ++i) {
    std::ifstream in(dir.file(fmt::format("n{}.log", i)));
    out += fmt::format("--- n{}.log\n{}", i, std::string(std::istreambuf_iterator<char>(in), {}));
  }
  return out;
}

bool wait_for(std::function<bool()> pred, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
}

Nodes::Nodes() : client_(std::move(rpc::control::ControlClient::Create().value())) {}

Nodes::~Nodes() {
  for (auto& [name, pid] : pids_) {
    if (pid > 0 && kill(pid, SIGKILL) == 0) waitpid(pid, nullptr, 0);
  }
  for (auto& [name, path] : attach_paths_) unlink(path.c_str());
}

void Nodes::start(const std::string& name, const std::string& config, const std::string& log,
                  const std::string& netns) {
  std::vector<std::string> args = {pangaea_binary(), "node", "--config",    config,
                                   "--name",         name,   "--log-level", "info"};
  auto argv = argv_of(args);
  if (auto cfg = node::load_config(config); cfg.ok()) {
    for (const auto& n : cfg->nodes) {
      if (n.name == name) attach_paths_[name] = rpc::control::attach_socket_path(n.control);
    }
  }
  std::string ns_path = "/var/run/netns/" + netns;
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (!netns.empty()) {
      int fd = open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) _exit(126);
    }
    int null = open("/dev/null", O_RDONLY);
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(null, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  pids_[name] = pid;
}

bool Nodes::running(const std::string& name) {
  pid_t pid = pids_.at(name);
  if (pid <= 0) return false;
  if (waitpid(pid, nullptr, WNOHANG) == pid) {
    pids_[name] = -1;
    return false;
  }
  return true;
}

void Nodes::kill9(const std::string& name) {
  pid_t pid = pids_.at(name);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  pids_[name] = -1;
}

int Nodes::terminate(const std::string& name, std::chrono::milliseconds grace) {
  pid_t pid = pids_.at(name);
  kill(pid, SIGTERM);
  int status = 0;
  bool exited = wait_for([&] { return waitpid(pid, &status, WNOHANG) == pid; }, grace);
  pids_[name] = -1;
  if (!exited) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return -1;
  }
  return decode(status);
}

base::StatusOr<rpc::control::NodeStatusInfo> Nodes::status(const node::NodeConfig& n) {
  return client_->status(n.control, 500ms);
}

base::StatusOr<rpc::control::StatsInfo> Nodes::stats(const node::NodeConfig& n) {
  return client_->stats(n.control, 500ms);
}

bool Nodes::sees_up(const node::NodeConfig& observer, const std::string& peer) {
  auto s = status(observer);
  if (!s.ok()) return false;
  for (const auto& p : s->peers) {
    if (p.name == peer) return p.up;
  }
  return false;
}

bool Nodes::all_see_each_other(const node::ClusterConfig& c, int count) {
  for (int i = 0; i < count; ++i) {
    for (int j = 0; j < count; ++j) {
      if (i != j && !sees_up(c.nodes[static_cast<size_t>(i)], c.nodes[static_cast<size_t>(j)].name))
        return false;
    }
  }
  return true;
}

uint64_t Nodes::refusals_of(const node::ClusterConfig& c, const std::string& intruder, int count) {
  uint64_t refused = 0;
  for (int i = 0; i < count; ++i) {
    const node::NodeConfig& n = c.nodes[static_cast<size_t>(i)];
    auto st = stats(n);
    if (!st.ok()) continue;
    for (const auto& counter : st->counters) {
      bool about = counter.group == "peer:" + intruder;
      bool by = n.name == intruder && counter.group == "transport";
      if ((about || by) && (counter.name == "auth_failures" || counter.name == "rejected"))
        refused += counter.value;
    }
  }
  return refused;
}

bool Nodes::sees_down(const node::NodeConfig& observer, const std::string& peer) {
  auto s = status(observer);
  if (!s.ok()) return false;
  for (const auto& p : s->peers) {
    if (p.name == peer) return !p.up;
  }
  return false;
}

int sh(const std::string& command) {
  int status = std::system(command.c_str());
  return decode(status);
}

namespace {

void remove_stale_namespaces() {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/var/run/netns", ec)) {
    std::string name = entry.path().filename().string();
    int pid = 0;
    if (std::sscanf(name.c_str(), "pgit%d-", &pid) != 1 || pid <= 0) continue;
    if (kill(pid, 0) == 0 || errno != ESRCH) continue;
    sh(fmt::format("ip netns del {} 2>/dev/null", name));
  }
}

}  // namespace

std::unique_ptr<NetnsLab> NetnsLab::Create(int hosts, std::string* why) {
  if (geteuid() != 0) {
    *why = "network namespaces need root (run the integration tests as root)";
    return nullptr;
  }
  if (sh("ip -V >/dev/null 2>&1") != 0) {
    *why = "the `ip` command (iproute2) is missing";
    return nullptr;
  }
  std::unique_ptr<NetnsLab> lab(new NetnsLab());
  // Unique per run: names carry the pid, so parallel runs never collide.
  lab->prefix_ = fmt::format("pgit{}", getpid());
  lab->switch_ns_ = lab->prefix_ + "-sw";
  lab->subnet_ = 99;
  for (int i = 0; i < hosts; ++i) lab->names_.push_back(fmt::format("{}-h{}", lab->prefix_, i));
  // Leftovers of runs that were killed before their destructor ran (a ctest
  // timeout): namespaces of this test whose pid no longer exists.
  remove_stale_namespaces();
  for (const auto& n : lab->names_) sh(fmt::format("ip netns del {} 2>/dev/null", n));
  sh(fmt::format("ip netns del {} 2>/dev/null", lab->switch_ns_));

  std::vector<std::string> cmds = {
      fmt::format("ip netns add {}", lab->switch_ns_),
      fmt::format("ip -n {} link add br0 type bridge", lab->switch_ns_),
      fmt::format("ip -n {} link set br0 up", lab->switch_ns_),
  };
  for (int i = 0; i < hosts; ++i) {
    const std::string& ns = lab->names_[static_cast<size_t>(i)];
    cmds.push_back(fmt::format("ip netns add {}", ns));
    cmds.push_back(fmt::format("ip -n {} link add v{} type veth peer name eth0 netns {}",
                               lab->switch_ns_, i, ns));
    cmds.push_back(fmt::format("ip -n {} link set v{} master br0 up", lab->switch_ns_, i));
    cmds.push_back(fmt::format("ip -n {} addr add {}/24 dev eth0", ns, lab->address(i)));
    cmds.push_back(fmt::format("ip -n {} link set eth0 up", ns));
    cmds.push_back(fmt::format("ip -n {} link set lo up", ns));
  }
  for (const auto& c : cmds) {
    if (sh(c + " 2>&1") != 0) {
      *why = "failed: " + c;
      return nullptr;  // the destructor removes what was made
    }
  }
  return lab;
}

NetnsLab::~NetnsLab() {
  for (const auto& n : names_) sh(fmt::format("ip netns del {} 2>/dev/null", n));
  sh(fmt::format("ip netns del {} 2>/dev/null", switch_ns_));
}

std::string NetnsLab::address(int i) const { return fmt::format("10.{}.0.{}", subnet_, i + 1); }

}  // namespace itest
