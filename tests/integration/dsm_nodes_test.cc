// DSM with real processes. kill -9 of a DSM node that only read frames
// loses no frame homed elsewhere. Two real `pangaea node` processes home the guest-memory region
// with three more cluster members played by dsm_frames_helper (a process
// that is a node with only the Region; see its header for why): a writer
// fills every frame, a reader reads them all back and is killed with
// SIGKILL, and a fresh checker then reads every frame not homed on the
// reader, through the surviving nodes, and must find the writer's bytes.
// And `pangaea bench coherence`, small, as a user runs it.

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace itest {
namespace {

// A helper process with its stdout on a pipe.
class Helper {
 public:
  // Runs the helper with `args`, inside network namespace `netns` if given.
  Helper(const std::vector<std::string>& args, const std::string& netns = "") {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    const std::string ns_path = "/var/run/netns/" + netns;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (!netns.empty()) {
        int fd = ::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) ::_exit(126);
      }
      ::dup2(fds[1], STDOUT_FILENO);
      std::vector<char*> argv;
      std::string bin = PANGAEA_DSM_FRAMES_HELPER;
      argv.push_back(bin.data());
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out_ = fds[0];
  }
  ~Helper() {
    kill9();
    if (out_ >= 0) ::close(out_);
  }
  // The first line it prints, or "" after `timeout`.
  std::string line(std::chrono::milliseconds timeout) {
    const auto end = Clock::now() + timeout;
    while (buf_.find('\n') == std::string::npos && Clock::now() < end) {
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char b[256];
      ssize_t n = ::read(out_, b, sizeof b);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      buf_.append(b, static_cast<size_t>(n));
    }
    size_t nl = buf_.find('\n');
    if (nl == std::string::npos) return "";
    std::string l = buf_.substr(0, nl);
    buf_.erase(0, nl + 1);
    return l;
  }
  void kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // Waits for the exit; its status, or -1.
  int wait() {
    int st = 0;
    if (pid_ <= 0 || ::waitpid(pid_, &st, 0) != pid_) return -1;
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string buf_;
};

// One run of the scenario with `protocol`: on 127.0.0.1 (ports from
// `base`), or with each member in its own namespace of `lab`.
void reader_killed(const std::string& protocol, int base, const NetnsLab* lab = nullptr) {
  SCOPED_TRACE(protocol);
  TempDir dir;
  // 1 MiB of guest memory: 256 frames interleaved over 5 equal members.
  std::string text = fmt::format(
      "[cluster]\nname = \"dsmkill\"\nsecret = \"s\"\nplacement = \"interleave\"\n"
      "protocol = \"{}\"\n[guest]\nmemory = \"1MiB\"\n",
      protocol);
  const std::vector<std::string> names = {"n0", "n1", "w", "r", "c"};
  for (size_t i = 0; i < names.size(); ++i) {
    const int k = static_cast<int>(i);
    text += fmt::format("[[node]]\nname = \"{}\"\naddress = \"{}:{}\"\nmemory = \"16MiB\"\n",
                        names[i], lab ? lab->address(k) : "127.0.0.1", lab ? 7700 : base + 2 * k);
  }
  auto ns = [&](int i) { return lab ? lab->ns(i) : std::string(); };
  dir.write("cluster.toml", text);
  const std::string config = dir.file("cluster.toml");

  Nodes nodes;
  nodes.start("n0", config, dir.file("n0.log"), ns(0));
  nodes.start("n1", config, dir.file("n1.log"), ns(1));

  // Frames homed on the members that stay up: n0, n1 (real nodes) and the
  // writer. The reader reads them all (it holds a copy of each and is in
  // every copyset), homes none of them, and is then killed with SIGKILL.
  const std::string homes = "n0,n1,w";
  Helper writer({config, "w", "write", "7", homes}, ns(2));
  const std::string written = writer.line(60s);
  ASSERT_EQ(written.rfind("written ", 0), 0u) << written;
  const std::string n = written.substr(8);
  ASSERT_GT(std::stoi(n), 100);  // about 3/5 of 256
  Helper reader({config, "r", "read", "7", homes}, ns(3));
  ASSERT_EQ(reader.line(60s), "read " + n);
  reader.kill9();

  // A fresh member reads them through the survivors.
  Helper checker({config, "c", "check", "7", homes}, ns(4));
  EXPECT_EQ(checker.line(60s), "checked " + n);
  EXPECT_EQ(checker.wait(), 0);
  EXPECT_TRUE(nodes.running("n0"));
  EXPECT_TRUE(nodes.running("n1"));
}

TEST(DsmNodes, KillingAReaderLosesNoFrameHomedElsewhere) {
  const int base = 31000 + static_cast<int>(getpid() % 900) * 20;
  reader_killed("msi-home", base);
  reader_killed("ivy-dynamic", base + 10);
}

TEST(DsmNodes, KillingAReaderLosesNoFrameHomedElsewhereInNetworkNamespaces) {
  std::string why;
  auto lab = NetnsLab::Create(5, &why);
  if (!lab) GTEST_SKIP() << "network namespace test skipped: " << why;
  reader_killed("msi-home", 0, lab.get());
  reader_killed("ivy-dynamic", 0, lab.get());
}

TEST(DsmBench, CoherenceCommandComparesBothProtocols) {
  const int port = 41000 + static_cast<int>(getpid() % 900) * 8;
  RunResult r = run_pangaea({"bench", "coherence", "--protocol", "all", "--rounds", "10", "--json",
                             "--port", std::to_string(port)});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  for (const char* want : {"\"protocol\":\"msi-home\"", "\"protocol\":\"ivy-dynamic\"",
                           "\"pattern\":\"ping-pong\"", "\"pattern\":\"false-sharing\"",
                           "\"pattern\":\"read-mostly\"", "\"invalidations\":", "\"us_per_op\":"}) {
    EXPECT_NE(r.out.find(want), std::string::npos) << want << "\n" << r.out;
  }
  RunResult bad = run_pangaea({"bench", "coherence", "--protocol", "no-such"});
  EXPECT_NE(bad.status, 0);
}

}  // namespace
}  // namespace itest
