#pragma once
// One end of the fault benchmark's bare libfabric ping-pong: registered
// buffers [send | receive], one receive posted at a time, completions polled.
// The baselines (b) and (c) are measured over a pair of these, and the
// measuring side drives node 1's side through the same pair
// (fault_bench_link.h).

#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "base/bytes.h"
#include "base/result.h"
#include "rpc/fabric_endpoint.h"

namespace dsm {

class BareEnd {
 public:
  // `self` is 0 or 1 of {a, b}; buffers of `bytes` each way.
  static base::StatusOr<std::unique_ptr<BareEnd>> Create(const std::string& provider,
                                                         const rpc::FabricAddress& a,
                                                         const rpc::FabricAddress& b, int self,
                                                         size_t bytes) {
    auto ep = TRY(rpc::FabricEndpoint::Create(provider, {a, b}, self));
    std::unique_ptr<BareEnd> e(new BareEnd);
    e->bytes_ = bytes;
    e->mem_ = static_cast<std::byte*>(std::aligned_alloc(base::kPageSize, 2 * bytes));
    if (e->mem_ == nullptr) return base::Error("out of memory", ENOMEM);
    std::memset(e->mem_, 0x5a, 2 * bytes);
    fid_mr* mr = TRY(ep->register_memory(e->mem_, 2 * bytes));
    e->desc_ = ep->needs_desc() ? fi_mr_desc(mr) : nullptr;
    e->peer_ = ep->fi_addr(1 - self);
    e->ep_ = std::move(ep);
    return e;
  }
  ~BareEnd() {
    ep_.reset();
    std::free(mem_);
  }
  size_t bytes() const { return bytes_; }
  std::byte* send_buffer() { return mem_; }
  const std::byte* recv_buffer() const { return mem_ + bytes_; }

  base::Status post_recv() {
    for (;;) {
      ssize_t r = fi_recv(ep_->ep(), mem_ + bytes_, bytes_, desc_, FI_ADDR_UNSPEC, &recv_ctx_);
      if (r == 0) return {};
      if (r != -FI_EAGAIN) return base::Error(fmt::format("fi_recv: {}", fi_strerror(-r)));
      TRY(poll(0));
    }
  }
  // ETIMEDOUT when the provider takes nothing for `timeout` (e.g. no peer
  // listening yet: the connection is retried meanwhile).
  base::Status send(size_t len, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      ssize_t r = fi_send(ep_->ep(), mem_, len, desc_, peer_, &send_ctx_);
      if (r == 0) {
        ++posted_;
        return {};
      }
      if (r != -FI_EAGAIN) return base::Error(fmt::format("fi_send: {}", fi_strerror(-r)));
      if (std::chrono::steady_clock::now() > until) {
        return base::Error("bare ping-pong: the peer takes no message", ETIMEDOUT);
      }
      TRY(poll(0));
    }
  }
  // The next message (ETIMEDOUT after `timeout`). A message waiting is
  // taken at once; otherwise the thread sleeps in the completion queue 1 ms
  // at a time, or, `idle`, for as long as the endpoint lets it (it polls
  // with backoff where the provider cannot wait).
  base::Status wait_recv(std::chrono::milliseconds timeout = std::chrono::seconds(5),
                         bool idle = false) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (received_ == consumed_) {
      if (std::chrono::steady_clock::now() > until) {
        return base::Error("bare ping-pong: no message in time", ETIMEDOUT);
      }
      TRY(poll(1, idle));
    }
    ++consumed_;
    return {};
  }
  base::Status wait_sends() {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (sent_ < posted_) {
      if (std::chrono::steady_clock::now() > until) {
        return base::Error("bare ping-pong: send stuck", ETIMEDOUT);
      }
      TRY(poll(1));
    }
    return {};
  }

 private:
  BareEnd() = default;
  base::Status poll(int timeout_ms, bool idle = false) {
    fi_cq_msg_entry e[8];
    ssize_t n = idle ? ep_->wait_cq(e, 8, 100) : ep_->read_cq(e, 8, timeout_ms);
    if (n == -FI_EAVAIL) {
      fi_cq_err_entry err{};
      fi_cq_readerr(ep_->cq(), &err, 0);
      return base::Error(fmt::format("bare ping-pong: {}", fi_strerror(err.err)), err.err);
    }
    for (ssize_t i = 0; i < n; ++i) {
      if (e[i].flags & FI_RECV) ++received_;
      if (e[i].flags & FI_SEND) ++sent_;
    }
    return {};
  }

  std::unique_ptr<rpc::FabricEndpoint> ep_;
  std::byte* mem_ = nullptr;  // [send bytes_][recv bytes_]
  size_t bytes_ = 0;
  void* desc_ = nullptr;
  fi_addr_t peer_ = 0;
  fi_context2 send_ctx_{}, recv_ctx_{};
  uint64_t received_ = 0, consumed_ = 0, posted_ = 0, sent_ = 0;
};

}  // namespace dsm
