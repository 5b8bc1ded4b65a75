#include "tools/local_cluster.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/unique_fd.h"

namespace tools {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

// Binds a loopback TCP socket to `port` (0 = any); returns it and the port.
base::StatusOr<std::pair<base::UniqueFd, uint16_t>> bind_loopback(uint16_t port) {
  base::UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return base::Error::from_errno("socket");
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sin.sin_port = htons(port);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) != 0)
    return base::Error::from_errno("bind");
  socklen_t len = sizeof(sin);
  if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sin), &len) != 0)
    return base::Error::from_errno("getsockname");
  return std::make_pair(std::move(fd), ntohs(sin.sin_port));
}

// `count` pairs of free consecutive loopback ports (data, control = data+1).
// The probing sockets are held until all are found, so no two pairs overlap;
// the ports are free again (for the nodes) when this returns.
base::StatusOr<std::vector<uint16_t>> free_port_pairs(int count) {
  std::vector<base::UniqueFd> held;
  std::vector<uint16_t> ports;
  for (int attempt = 0; static_cast<int>(ports.size()) < count; ++attempt) {
    if (attempt > 200) return base::Error("could not find free loopback port pairs", EADDRINUSE);
    auto first = TRY(bind_loopback(0));
    if (first.second == 65535) continue;
    auto second = bind_loopback(static_cast<uint16_t>(first.second + 1));
    if (!second.ok()) continue;
    ports.push_back(first.second);
    held.push_back(std::move(first.first));
    held.push_back(std::move(second->first));
  }
  return ports;
}

base::Status write_file(const std::string& path, const std::string& text, mode_t mode) {
  base::UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd.valid()) return base::Error::from_errno(fmt::format("create {}", path));
  // The mode of an existing file is not changed by open(); the secret must be 0600.
  if (fchmod(fd.get(), mode) != 0) return base::Error::from_errno(fmt::format("chmod {}", path));
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return base::Error::from_errno(fmt::format("write {}", path));
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

base::StatusOr<std::string> random_secret() {
  unsigned char bytes[32];
  if (getrandom(bytes, sizeof(bytes), 0) != static_cast<ssize_t>(sizeof(bytes))) {
    return base::Error::from_errno("getrandom");
  }
  std::string hex;
  for (unsigned char b : bytes) hex += fmt::format("{:02x}", b);
  return hex;
}

std::string last_lines(const std::string& path, int count) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
    if (static_cast<int>(lines.size()) > count) lines.erase(lines.begin());
  }
  std::string out;
  for (const auto& l : lines) out += "\n    " + l;
  return out;
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exit status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("killed by {}", strsignal(WTERMSIG(status)));
  return "stopped";
}

}  // namespace

std::string default_run_dir() {
  if (const char* runtime = getenv("XDG_RUNTIME_DIR"); runtime && *runtime) {
    return fmt::format("{}/pangaea-local", runtime);
  }
  return fmt::format("/tmp/pangaea-local-{}", getuid());
}

base::Status LocalCluster::write_files(const LocalClusterOptions& options) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec)
    return base::Error(fmt::format("cannot create run directory {}: {}", dir_, ec.message()),
                       ec.value());
  chmod(dir_.c_str(), 0700);
  if (fs::exists(fs::path(dir_) / "nodes")) {
    // A previous cluster here: refuse if any of its nodes still runs.
    auto old = Attach(dir_);
    if (old.ok()) {
      for (auto& p : (*old)->procs_) {
        if ((*old)->alive(p)) {
          (*old)->detach();
          return base::Error(
              fmt::format("a local cluster is already running in {} (node {} pid {}); stop it "
                          "with `pangaea down --dir {}`",
                          dir_, p.name, p.pid, dir_),
              EEXIST);
        }
      }
      (*old)->detach();
    }
  }
  std::string secret = TRY(random_secret());
  TRY(write_file(dir_ + "/secret", secret + "\n", 0600));
  auto ports = TRY(free_port_pairs(options.nodes));
  std::string text = fmt::format(
      "# Generated by `pangaea up --local {}`: {} nodes on loopback.\n"
      "[cluster]\nname = \"local\"\nsecret = \"file:secret\"\nprovider = \"tcp\"\n",
      options.nodes, options.nodes);
  if (options.guest_memory) text += fmt::format("\n[guest]\nmemory = {}\n", options.guest_memory);
  for (int i = 0; i < options.nodes; ++i) {
    text += fmt::format("\n[[node]]\nname = \"n{}\"\naddress = \"127.0.0.1:{}\"\nmemory = {}\n{}",
                        i, ports[static_cast<size_t>(i)], options.memory_per_node,
                        i == 0 ? "primary = true\n" : "");
  }
  config_path_ = dir_ + "/cluster.toml";
  TRY(write_file(config_path_, text, 0644));
  config_ = TRY(node::load_config(config_path_));
  return {};
}

base::Status LocalCluster::spawn(const std::string& name, const std::string& log_level,
                                 bool detach) {
  std::error_code ec;
  std::string exe = fs::read_symlink("/proc/self/exe", ec).string();
  if (ec) return base::Error(fmt::format("cannot find own executable: {}", ec.message()));
  std::string log_path = fmt::format("{}/{}.log", dir_, name);
  base::UniqueFd log(open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!log.valid()) return base::Error::from_errno(fmt::format("open {}", log_path));
  base::UniqueFd null(open("/dev/null", O_RDONLY | O_CLOEXEC));
  // Everything the child needs is prepared before fork: after it, only
  // async-signal-safe calls.
  std::vector<std::string> args = {exe,      "node", "--config",    config_path_,
                                   "--name", name,   "--log-level", log_level};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return base::Error::from_errno("fork");
  if (pid == 0) {
    // Own session: a Ctrl-C at the terminal reaches `up`, which stops the
    // nodes in order, and a detached node outlives the terminal.
    setsid();
    if (!detach) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(1);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    dup2(null.get(), 0);
    dup2(log.get(), 1);
    dup2(log.get(), 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  procs_.push_back(Proc{name, pid, true, true, 0});
  return {};
}

bool LocalCluster::alive(Proc& p) {
  if (!p.running) return false;
  if (p.child) {
    int status = 0;
    pid_t r = waitpid(p.pid, &status, WNOHANG);
    if (r == p.pid) {
      p.running = false;
      p.wait_status = status;
    }
    return p.running;
  }
  // Not our child: it is ours only if it still runs with this config.
  std::ifstream in(fmt::format("/proc/{}/cmdline", p.pid));
  std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (cmdline.find(config_path_) == std::string::npos) p.running = false;
  return p.running;
}

std::vector<std::string> LocalCluster::reap_exited() {
  std::vector<std::string> gone;
  for (auto& p : procs_) {
    if (p.running && !alive(p)) gone.push_back(p.name);
  }
  return gone;
}

base::Status LocalCluster::write_pid_file() const {
  std::string text;
  for (const auto& p : procs_) text += fmt::format("{} {}\n", p.name, p.pid);
  return write_file(dir_ + "/nodes", text, 0644);
}

ClusterView LocalCluster::view() {
  return query_cluster(config_, *client_, std::chrono::milliseconds(500));
}

ClusterView LocalCluster::settled_view(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    ClusterView v = view();
    bool measured = true;
    for (const auto& r : v.rows) measured = measured && (r.rtt_us > 0 || v.rows.size() == 1);
    if (measured || Clock::now() >= deadline) return v;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

base::Status LocalCluster::wait_all_up(std::chrono::milliseconds timeout, bool external_primary) {
  auto deadline = Clock::now() + timeout;
  int n = static_cast<int>(config_.nodes.size());
  for (;;) {
    for (auto& p : procs_) {
      if (!p.running || alive(p)) continue;
      std::string log = fmt::format("{}/{}.log", dir_, p.name);
      return base::Error(fmt::format("node {} exited while starting ({}); the end of {}:{}", p.name,
                                     describe_wait_status(p.wait_status), log, last_lines(log, 5)));
    }
    ClusterView v = view();
    bool all = true;
    for (const auto& r : v.rows) {
      bool spawned = !(external_primary && r.name == config_.nodes[0].name);
      if (spawned) all = all && r.answered && (external_primary || r.peers_up == n - 1);
    }
    if (all) return {};
    if (Clock::now() >= deadline) {
      std::string why;
      for (const auto& r : v.rows) {
        if (external_primary && r.name == config_.nodes[0].name) continue;
        if (!r.answered) {
          why += fmt::format("\n  {}: no answer on its control plane ({})", r.name, r.error);
        } else if (r.peers_up != n - 1) {
          why += fmt::format("\n  {}: sees {} of {} peers up", r.name, r.peers_up, n - 1);
        }
      }
      return base::Error(
          fmt::format("the local cluster did not come up within {:.0f} s:{}\n  node logs: {}/*.log",
                      std::chrono::duration<double>(timeout).count(), why, dir_),
          ETIMEDOUT);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

base::StatusOr<std::unique_ptr<LocalCluster>> LocalCluster::Start(
    const LocalClusterOptions& options) {
  if (options.nodes < 1 || options.nodes > 64) {
    return base::Error(fmt::format("--local {}: the node count must be 1 to 64", options.nodes),
                       EINVAL);
  }
  std::unique_ptr<LocalCluster> c(new LocalCluster());
  c->dir_ = options.dir.empty() ? default_run_dir() : fs::absolute(options.dir).string();
  // write_files() may Attach() to an earlier cluster, whose client must be
  // gone before this one is made (one kj event loop per thread).
  TRY(c->write_files(options));
  c->client_ = TRY(rpc::control::ControlClient::Create());
  for (const auto& n : c->config_.nodes) {
    if (options.external_primary && n.primary) continue;
    auto st = c->spawn(n.name, options.log_level, options.detach);
    if (!st.ok()) return std::move(st).error();  // the destructor stops those started
  }
  TRY(c->write_pid_file());
  TRY(c->wait_all_up(options.up_timeout, options.external_primary));
  if (options.detach) c->detach();
  return c;
}

base::StatusOr<std::unique_ptr<LocalCluster>> LocalCluster::Attach(const std::string& dir) {
  std::unique_ptr<LocalCluster> c(new LocalCluster());
  c->dir_ = fs::absolute(dir).string();
  c->config_path_ = c->dir_ + "/cluster.toml";
  std::ifstream nodes(c->dir_ + "/nodes");
  if (!nodes)
    return base::Error(fmt::format("no local cluster in {} (no nodes file)", c->dir_), ENOENT);
  c->config_ = TRY(node::load_config(c->config_path_));
  c->client_ = TRY(rpc::control::ControlClient::Create());
  std::string name;
  pid_t pid;
  while (nodes >> name >> pid) c->procs_.push_back(Proc{name, pid, false, true, 0});
  c->detached_ = true;  // stopped only by an explicit stop()
  return c;
}

base::Status LocalCluster::stop(std::chrono::milliseconds grace) {
  for (auto& p : procs_) {
    if (!alive(p)) continue;
    const node::NodeConfig* n = config_.find(p.name);
    auto st = n ? client_->shutdown(n->control, std::chrono::milliseconds(500))
                : base::Status(base::Error("?"));
    if (!st.ok()) {
      spdlog::info("{}: control shutdown failed ({}), sending SIGTERM", p.name,
                   st.error().message());
      kill(p.pid, SIGTERM);
    }
  }
  auto wait_until = [&](Clock::time_point deadline) {
    for (;;) {
      bool any = false;
      for (auto& p : procs_) any = alive(p) || any;
      if (!any || Clock::now() >= deadline) return !any;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  };
  std::vector<std::string> problems;
  std::set<std::string> killed;
  if (!wait_until(Clock::now() + grace)) {
    for (auto& p : procs_) {
      if (!alive(p)) continue;
      problems.push_back(
          fmt::format("{} ignored shutdown and SIGTERM for {} ms; killed", p.name, grace.count()));
      kill(p.pid, SIGKILL);
      killed.insert(p.name);
    }
    wait_until(Clock::now() + std::chrono::seconds(2));
  }
  for (const auto& p : procs_) {
    bool clean = WIFEXITED(p.wait_status) && WEXITSTATUS(p.wait_status) == 0;
    if (p.child && !p.running && !clean && !killed.count(p.name)) {
      problems.push_back(fmt::format("{}: {}", p.name, describe_wait_status(p.wait_status)));
    }
  }
  std::error_code ec;
  fs::remove(fs::path(dir_) / "nodes", ec);
  procs_.clear();
  if (!problems.empty()) {
    std::string msg = "not every node stopped cleanly:";
    for (const auto& s : problems) msg += "\n  " + s;
    return base::Error(msg);
  }
  return {};
}

LocalCluster::~LocalCluster() {
  if (detached_ || procs_.empty()) return;
  auto st = stop();
  if (!st.ok()) spdlog::warn("{}", st.error().message());
}

}  // namespace tools
