// The console on a terminal: the guest is booted (kernel_boot_driver) on the
// slave side of a pseudo-terminal made by the test, and the test types at
// the master side as a user would at `pangaea run`'s shell.

#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include <gtest/gtest.h>

namespace {

using Clock = std::chrono::steady_clock;

struct Guest {
  pid_t pid = -1;
  int master = -1;
  std::string out;

  // `sh -c SCRIPT`; an empty script: an interactive shell.
  explicit Guest(const std::string& script) {
    pid = forkpty(&master, nullptr, nullptr, nullptr);
    if (pid == 0) {
      if (script.empty()) {
        execl(PANGAEA_BOOT_DRIVER, PANGAEA_BOOT_DRIVER, "rootflags=/", "--", "/bin/busybox", "sh",
              static_cast<char*>(nullptr));
      } else {
        execl(PANGAEA_BOOT_DRIVER, PANGAEA_BOOT_DRIVER, "rootflags=/", "--", "/bin/busybox", "sh",
              "-c", script.c_str(), static_cast<char*>(nullptr));
      }
      _exit(127);
    }
  }
  ~Guest() {
    if (pid > 0 && waitpid(pid, nullptr, WNOHANG) == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    if (master >= 0) close(master);
  }
  // Reads the terminal until `text` appears (true) or `seconds` pass.
  bool wait_for(const std::string& text, int seconds = 20) {
    auto until = Clock::now() + std::chrono::seconds(seconds);
    while (out.find(text) == std::string::npos) {
      if (Clock::now() >= until) return false;
      pollfd p{master, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buf[512];
      ssize_t n = read(master, buf, sizeof buf);
      if (n <= 0) return out.find(text) != std::string::npos;  // EIO: the guest ended
      out.append(buf, static_cast<size_t>(n));
    }
    return true;
  }
  void type(const std::string& keys) {
    ASSERT_EQ(write(master, keys.data(), keys.size()), static_cast<ssize_t>(keys.size()));
  }
  int exit_status() {
    int status = 0;
    auto until = Clock::now() + std::chrono::seconds(20);
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (Clock::now() >= until) return -1;
      wait_for("\x01", 0);  // drain the terminal so the guest never blocks writing
      usleep(20'000);
    }
    pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
};

TEST(Console, CtrlCReachesTheGuestForegroundGroupNotTheKernel) {
  // The shell traps SIGINT; its foreground child (sleep) dies of it.
  Guest g(
      "trap 'echo caught INT' INT; echo ready; /bin/busybox sleep 30; echo \"sleep status $?\"; "
      "exit 3");
  ASSERT_GT(g.pid, 0);
  ASSERT_TRUE(g.wait_for("ready")) << g.out;
  usleep(200'000);  // sleep is running
  g.type("\x03");   // Ctrl-C
  EXPECT_TRUE(g.wait_for("caught INT")) << g.out;
  EXPECT_TRUE(g.wait_for("sleep status 130")) << g.out;
  EXPECT_EQ(g.exit_status(), 3) << "the guest (not the kernel) took the signal\n" << g.out;
}

TEST(Console, InteractiveShellTakesCommandsAndCtrlC) {
  // The shell `pangaea run` gives: line editing (termios through TCGETS/
  // TCSETS), job control (TIOCSPGRP), a foreground job ended by Ctrl-C.
  Guest g("");
  ASSERT_GT(g.pid, 0);
  ASSERT_TRUE(g.wait_for("# ")) << g.out;
  g.type("echo al''ive\n");
  ASSERT_TRUE(g.wait_for("alive")) << g.out;
  g.type("/bin/busybox sleep 30\n");
  usleep(300'000);
  g.type("\x03");
  g.type("echo \"after $?\"\n");
  EXPECT_TRUE(g.wait_for("after 130")) << g.out;
  g.type("exit 5\n");
  EXPECT_EQ(g.exit_status(), 5) << g.out;
}

TEST(Console, ReadingTheConsoleLetsOtherGuestsRun) {
  // A background job runs and finishes while the shell waits at `read`;
  // then a typed line reaches `read`.
  Guest g(
      "( /bin/busybox sleep 0.2; echo background done ) & echo waiting; read line; "
      "echo \"got $line\"; wait");
  ASSERT_GT(g.pid, 0);
  ASSERT_TRUE(g.wait_for("waiting")) << g.out;
  EXPECT_TRUE(g.wait_for("background done", 10)) << "the job did not run while the shell read\n"
                                                 << g.out;
  g.type("hello\n");
  EXPECT_TRUE(g.wait_for("got hello")) << g.out;
  EXPECT_EQ(g.exit_status(), 0) << g.out;
}

TEST(Console, CtrlCInterruptsAGuestThatMakesNoSyscalls) {
  // A busy loop of shell builtins, then ^C ends it (the shell has no trap:
  // its default action ends it, status 130).
  Guest g("echo spinning; while :; do :; done");
  ASSERT_GT(g.pid, 0);
  ASSERT_TRUE(g.wait_for("spinning")) << g.out;
  usleep(300'000);
  g.type("\x03");
  EXPECT_EQ(g.exit_status(), 130) << g.out;
}

}  // namespace
