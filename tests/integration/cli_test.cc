// The `pangaea` command as a user meets it: exit statuses, messages, and the
// local cluster commands (up/status/down/run) end to end.

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace itest {
namespace {

bool contains(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

TEST(Cli, HelpEverywhere) {
  for (std::vector<std::string> args : {std::vector<std::string>{"--help"},
                                        {"node", "--help"},
                                        {"up", "--help"},
                                        {"down", "--help"},
                                        {"status", "--help"},
                                        {"stats", "--help"},
                                        {"run", "--help"}}) {
    RunResult r = run_pangaea(args);
    EXPECT_EQ(r.status, 0) << args[0];
    EXPECT_TRUE(contains(r.out, "Usage:")) << args[0] << ": " << r.out;
  }
}

TEST(Cli, UnknownFlagOrSubcommandIsExit2) {
  for (std::vector<std::string> args : {std::vector<std::string>{"--frobnicate"},
                                        {"frobnicate"},
                                        {"status", "--config", "x", "--frobnicate"},
                                        {"node", "--frobnicate"},
                                        {}}) {
    RunResult r = run_pangaea(args);
    EXPECT_EQ(r.status, 2) << (args.empty() ? "(none)" : args.back()) << ": " << r.err;
    EXPECT_FALSE(r.err.empty());
  }
  RunResult r = run_pangaea({"frobnicate"});
  EXPECT_TRUE(contains(r.err, "unknown subcommand or flag")) << r.err;
  EXPECT_TRUE(contains(r.err, "frobnicate")) << r.err;
}

TEST(Cli, BadConfigIsExit2WithFileLineField) {
  TempDir dir;
  dir.write("cluster.toml",
            "[cluster]\nname = \"x\"\nsecret = \"s\"\n\n[[node]]\nname = \"n0\"\naddress = "
            "\"127.0.0.1:7700\"\n"
            "memory = \"8GB?\"\n");
  std::string path = dir.file("cluster.toml");
  for (const char* cmd : {"node", "status", "stats"}) {
    std::vector<std::string> args = {cmd, "--config", path};
    if (std::string(cmd) == "node") args.insert(args.end(), {"--name", "n0"});
    RunResult r = run_pangaea(args);
    EXPECT_EQ(r.status, 2) << cmd << ": " << r.err;
    EXPECT_TRUE(contains(r.err, path + ":8: node[0].memory:")) << cmd << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one error line: " << r.err;
  }
}

TEST(Cli, SyntaxErrorAndMissingFileAreExit2) {
  TempDir dir;
  dir.write("cluster.toml", "[cluster\n");
  RunResult r = run_pangaea({"node", "--config", dir.file("cluster.toml"), "--name", "n0"});
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.err, dir.file("cluster.toml") + ":1:")) << r.err;
  r = run_pangaea({"status", "--config", dir.file("absent.toml")});
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.err, "absent.toml")) << r.err;
}

TEST(Cli, UnknownNodeNameIsExit2) {
  RunResult r = run_pangaea({"node", "--config", PANGAEA_EXAMPLE_CONFIG, "--name", "nobody"});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "no node named \"nobody\"")) << r.err;
}

TEST(Cli, NodeWhoseControlAddressIsTakenFailsCleanly) {
  TempDir dir;
  // A regular file where the control socket should go: the node must say
  // so and exit 1, leaving nothing running.
  dir.write("taken.sock", "");
  dir.write("cluster.toml",
            "[cluster]\nname = \"x\"\nsecret = \"s\"\n[[node]]\nname = \"n0\"\n"
            "address = \"127.0.0.1:" +
                std::to_string(20000 + getpid() % 20000) +
                "\"\nmemory = \"4MiB\"\ncontrol = \"unix:" + dir.file("taken.sock") + "\"\n");
  RunResult r = run_pangaea({"node", "--config", dir.file("cluster.toml"), "--name", "n0"}, 20s);
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_TRUE(contains(r.err, "taken.sock")) << r.err;
}

TEST(Cli, StatusOfAStoppedClusterShowsDown) {
  TempDir dir;
  dir.write("cluster.toml",
            "[cluster]\nname = \"x\"\nsecret = \"s\"\n[[node]]\nname = \"n0\"\naddress = "
            "\"127.0.0.1:9\"\n"
            "memory = \"4MiB\"\ncontrol = \"unix:" +
                dir.file("none.sock") + "\"\n");
  RunResult r = run_pangaea({"status", "--config", dir.file("cluster.toml")});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.out, "0 of 1 nodes up")) << r.out;
  EXPECT_TRUE(contains(r.out, "down")) << r.out;
}

TEST(Cli, UpDetachStatusDown) {
  TempDir dir;
  std::string run = dir.file("run");
  RunResult up = run_pangaea(
      {"up", "--local", "3", "--detach", "--dir", run, "--memory-per-node", "8MiB"}, 40s);
  ASSERT_EQ(up.status, 0) << up.out << up.err;
  EXPECT_TRUE(contains(up.out, "3 of 3 nodes up")) << up.out;
  // The secret is private.
  struct stat st;
  ASSERT_EQ(stat((run + "/secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  RunResult status = run_pangaea({"status", "--config", run + "/cluster.toml"});
  EXPECT_EQ(status.status, 0) << status.out;
  EXPECT_TRUE(contains(status.out, "8 MiB")) << status.out;

  // Starting again in the same directory is refused while it runs.
  RunResult again = run_pangaea({"up", "--local", "3", "--detach", "--dir", run}, 40s);
  EXPECT_EQ(again.status, 1);
  EXPECT_TRUE(contains(again.err, "already running")) << again.err;

  std::vector<pid_t> pids;
  {
    std::ifstream in(run + "/nodes");
    std::string name;
    pid_t pid;
    while (in >> name >> pid) pids.push_back(pid);
  }
  ASSERT_EQ(pids.size(), 3u);
  RunResult down = run_pangaea({"down", "--dir", run}, 30s);
  EXPECT_EQ(down.status, 0) << down.out << down.err;
  for (pid_t pid : pids) {
    EXPECT_TRUE(wait_for([&] { return kill(pid, 0) != 0; }, 5s)) << "pid " << pid << " still runs";
  }
  RunResult down_again = run_pangaea({"down", "--dir", run});
  EXPECT_EQ(down_again.status, 1);
  EXPECT_TRUE(contains(down_again.err, "no local cluster")) << down_again.err;
}

TEST(Cli, UpForegroundStopsOnSigint) {
  TempDir dir;
  // Run `up` in the foreground, wait for its table, then Ctrl-C it.
  std::string out_path = dir.file("up.out");
  std::string cmd = std::string(pangaea_binary()) + " up --local 2 --dir " + dir.file("run") +
                    " > " + out_path + " 2>&1 & echo $!";
  FILE* p = popen(cmd.c_str(), "r");
  pid_t pid = 0;
  ASSERT_EQ(fscanf(p, "%d", &pid), 1);
  pclose(p);
  auto output = [&] {
    std::ifstream in(out_path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  ASSERT_TRUE(wait_for([&] { return contains(output(), "Ctrl-C stops the cluster"); }, 40s))
      << output();
  EXPECT_TRUE(contains(output(), "2 of 2 nodes up")) << output();
  kill(pid, SIGINT);
  EXPECT_TRUE(wait_for([&] { return contains(output(), "stopped 2 nodes"); }, 15s)) << output();
  EXPECT_TRUE(wait_for([&] { return kill(pid, 0) != 0; }, 5s));
}

TEST(Cli, RunStartsShowsAndStops) {
  RunResult r = run_pangaea({"run"}, 60s);
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "3 of 3 nodes up")) << r.out;
  EXPECT_TRUE(contains(r.out, "stopped cleanly")) << r.out;
}

}  // namespace
}  // namespace itest
