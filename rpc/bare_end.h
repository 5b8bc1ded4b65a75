#pragma once
// One end of a bare libfabric send/recv ping-pong, straight on a
// FabricEndpoint: no header, no session, no progress thread. The baselines
// `pangaea bench rtt` and `pangaea bench fault` compare against (and the
// fault bench's command link to node 1's side).
//
// Threads: one at a time per end (the owner polls its completion queue).

#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "base/result.h"
#include "rpc/fabric_endpoint.h"

namespace rpc {

class BareEnd {
 public:
  // Sends from `send_buf` and receives into `recv_buf` (`size` bytes each,
  // registered as `mr`) to and from endpoint index `peer`. Waits sleep in
  // the completion queue `wait_ms` at a time.
  BareEnd(FabricEndpoint& ep, fid_mr* mr, std::byte* send_buf, std::byte* recv_buf, size_t size,
          int peer, int wait_ms = 1)
      : ep_(ep),
        desc_(ep.needs_desc() ? fi_mr_desc(mr) : nullptr),
        send_buf_(send_buf),
        recv_buf_(recv_buf),
        size_(size),
        peer_(ep.fi_addr(peer)),
        wait_ms_(wait_ms) {}

  size_t size() const { return size_; }
  std::byte* send_buffer() { return send_buf_; }
  const std::byte* recv_buffer() const { return recv_buf_; }

  base::Status post_recv() {
    for (;;) {
      ssize_t r = fi_recv(ep_.ep(), recv_buf_, size_, desc_, FI_ADDR_UNSPEC, &recv_ctx_);
      if (r == 0) return {};
      if (r != -FI_EAGAIN) return base::Error(fabric_error("fi_recv", static_cast<int>(r)));
      TRY(poll(0));
    }
  }

  // Sends `len` bytes (all of the buffer by default). ETIMEDOUT when the
  // provider takes nothing for `timeout` (e.g. no peer listening yet: the
  // connection is retried meanwhile).
  base::Status send(size_t len = 0, std::chrono::milliseconds timeout = kStall) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      ssize_t r = fi_send(ep_.ep(), send_buf_, len == 0 ? size_ : len, desc_, peer_, &send_ctx_);
      if (r == 0) {
        ++sends_posted_;
        spin_until_ = std::chrono::steady_clock::now() + kSpin;
        return {};
      }
      if (r != -FI_EAGAIN) return base::Error(fabric_error("fi_send", static_cast<int>(r)));
      if (std::chrono::steady_clock::now() > until) {
        return base::Error("bare: the peer takes no message", ETIMEDOUT);
      }
      TRY(poll(0));
    }
  }

  // The next message (ETIMEDOUT after `timeout`). `idle`: sleep for as long
  // as the endpoint lets it (polling with backoff where the provider cannot
  // wait) instead of `wait_ms` at a time.
  // Like FabricTransport's progress thread, it polls without sleeping (and
  // yields) for kSpin after its last send or completion, so neither side of
  // the comparison pays a wake-up the other does not.
  base::Status wait_recv(std::chrono::milliseconds timeout = kStall, bool idle = false) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (received_ == consumed_) {
      const auto now = std::chrono::steady_clock::now();
      if (now > until) return base::Error("bare: no message in time", ETIMEDOUT);
      if (now < spin_until_) {
        TRY(poll(0));
        if (received_ == consumed_) std::this_thread::yield();
      } else {
        TRY(poll(wait_ms_, idle));
      }
    }
    ++consumed_;
    return {};
  }

  // Large messages go by rendezvous: the peer reads from our buffer, which
  // needs our progress, so an end must not stop polling before its sends
  // completed.
  base::Status wait_sends() {
    const auto until = std::chrono::steady_clock::now() + kStall;
    while (sends_done_ < sends_posted_) {
      if (std::chrono::steady_clock::now() > until) {
        return base::Error("bare: a send did not complete in 5 s", ETIMEDOUT);
      }
      TRY(poll(wait_ms_));
    }
    return {};
  }

 private:
  static constexpr std::chrono::milliseconds kStall{5000};
  // As FabricTransport::kSpin.
  static constexpr std::chrono::microseconds kSpin{200};

  base::Status poll(int timeout_ms, bool idle = false) {
    fi_cq_msg_entry e[8];
    ssize_t n = idle ? ep_.wait_cq(e, 8, 100) : ep_.read_cq(e, 8, timeout_ms);
    if (n == -FI_EAVAIL) {
      fi_cq_err_entry err{};
      fi_cq_readerr(ep_.cq(), &err, 0);
      return base::Error(std::string("bare: completion error: ") + fi_strerror(err.err), err.err);
    }
    for (ssize_t i = 0; i < n; ++i) {
      if (e[i].flags & FI_RECV) ++received_;
      if (e[i].flags & FI_SEND) ++sends_done_;
    }
    if (n > 0) spin_until_ = std::chrono::steady_clock::now() + kSpin;
    return {};
  }

  FabricEndpoint& ep_;
  void* desc_;
  std::byte* send_buf_;
  std::byte* recv_buf_;
  size_t size_;
  fi_addr_t peer_;
  int wait_ms_;
  fi_context2 send_ctx_{};
  fi_context2 recv_ctx_{};
  uint64_t received_ = 0, consumed_ = 0, sends_posted_ = 0, sends_done_ = 0;
  std::chrono::steady_clock::time_point spin_until_{};
};

// A BareEnd with its own endpoint and registered buffers [send | receive].
class OwnedBareEnd {
 public:
  // `self` is 0 or 1 of {a, b}; buffers of `bytes` each way.
  static base::StatusOr<std::unique_ptr<OwnedBareEnd>> Create(const std::string& provider,
                                                              const FabricAddress& a,
                                                              const FabricAddress& b, int self,
                                                              size_t bytes, int wait_ms = 1) {
    std::unique_ptr<OwnedBareEnd> e(new OwnedBareEnd);
    e->ep_ = TRY(FabricEndpoint::Create(provider, {a, b}, self));
    e->mem_ = static_cast<std::byte*>(std::aligned_alloc(4096, (2 * bytes + 4095) / 4096 * 4096));
    if (e->mem_ == nullptr) return base::Error("out of memory", ENOMEM);
    std::memset(e->mem_, 0x5a, 2 * bytes);
    fid_mr* mr = TRY(e->ep_->register_memory(e->mem_, 2 * bytes));
    e->end_ =
        std::make_unique<BareEnd>(*e->ep_, mr, e->mem_, e->mem_ + bytes, bytes, 1 - self, wait_ms);
    return e;
  }
  ~OwnedBareEnd() {
    end_.reset();
    ep_.reset();
    std::free(mem_);
  }
  BareEnd& end() { return *end_; }

 private:
  OwnedBareEnd() = default;
  std::unique_ptr<FabricEndpoint> ep_;
  std::byte* mem_ = nullptr;
  std::unique_ptr<BareEnd> end_;
};

}  // namespace rpc
