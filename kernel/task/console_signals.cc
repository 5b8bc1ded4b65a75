#include "kernel/task/console_signals.h"

#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

namespace kernel::task {
namespace {

constexpr int kSignals[] = {SIGINT, SIGQUIT, SIGTSTP};

std::atomic<uint64_t> g_caught{0};
std::atomic<int> g_event_fd{-1};
struct sigaction g_old[3];

void on_signal(int sig) {
  const int saved = errno;
  g_caught.fetch_or(uint64_t{1} << sig);
  uint64_t one = 1;
  int fd = g_event_fd.load();
  if (fd >= 0) (void)!::write(fd, &one, sizeof one);
  errno = saved;
}

}  // namespace

ConsoleSignals::ConsoleSignals(int console_in) {
  static_assert(std::atomic<uint64_t>::is_always_lock_free);
  if (!::isatty(console_in) || g_event_fd.load() >= 0) return;
  event_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!event_.valid()) return;
  g_caught.store(0);
  g_event_fd.store(event_.get());
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < std::size(kSignals); ++i) ::sigaction(kSignals[i], &sa, &g_old[i]);
  active_ = true;
}

ConsoleSignals::~ConsoleSignals() {
  if (!active_) return;
  for (size_t i = 0; i < std::size(kSignals); ++i) ::sigaction(kSignals[i], &g_old[i], nullptr);
  g_event_fd.store(-1);
}

uint64_t ConsoleSignals::take() {
  if (!active_) return 0;
  uint64_t n;
  while (::read(event_.get(), &n, sizeof n) > 0) {
  }
  return g_caught.exchange(0);
}

bool ConsoleSignals::pending() { return g_caught.load(std::memory_order_relaxed) != 0; }

}  // namespace kernel::task
