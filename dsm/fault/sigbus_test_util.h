#pragma once
// Tests of lost frames: run an access and tell whether it got SIGBUS (the
// fault engine poisons a lost frame's page; dsm/PROTOCOLS.md "Node failure").

#include <atomic>
#include <csetjmp>
#include <csignal>
#include <cstdlib>
#include <functional>

namespace dsm::testing {

namespace sigbus_detail {
inline thread_local sigjmp_buf* jump = nullptr;
inline void on_sigbus(int) {
  if (jump != nullptr) siglongjmp(*jump, 1);
  std::abort();
}
}  // namespace sigbus_detail

// Runs `access` on this thread with a SIGBUS handler installed; true when
// the access got SIGBUS (it is abandoned there) instead of completing.
inline bool gets_sigbus(const std::function<void()>& access) {
  struct sigaction sa {}, old{};
  sa.sa_handler = sigbus_detail::on_sigbus;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_NODEFER;
  sigaction(SIGBUS, &sa, &old);
  sigjmp_buf jump;
  bool bus = false;
  if (sigsetjmp(jump, 1) == 0) {
    sigbus_detail::jump = &jump;
    std::atomic_signal_fence(std::memory_order_seq_cst);  // set before the access
    access();
  } else {
    bus = true;
  }
  sigbus_detail::jump = nullptr;
  sigaction(SIGBUS, &old, nullptr);
  return bus;
}

}  // namespace dsm::testing
