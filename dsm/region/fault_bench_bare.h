#pragma once
// The fault benchmark's end of the bare libfabric ping-pong (rpc::BareEnd)
// with its own endpoint and registered buffers [send | receive]. The
// baselines (b) and (c) are measured over a pair of these, and the measuring
// side drives node 1's side through the same pair (rpc/bench_command.h, rpc/bench_link.h).

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "base/bytes.h"
#include "base/result.h"
#include "rpc/bare_end.h"
#include "rpc/fabric_endpoint.h"

namespace dsm {

class BenchBareEnd {
 public:
  // `self` is 0 or 1 of {a, b}; buffers of `bytes` each way.
  static base::StatusOr<std::unique_ptr<BenchBareEnd>> Create(const std::string& provider,
                                                              const rpc::FabricAddress& a,
                                                              const rpc::FabricAddress& b, int self,
                                                              size_t bytes) {
    std::unique_ptr<BenchBareEnd> e(new BenchBareEnd);
    e->ep_ = TRY(rpc::FabricEndpoint::Create(provider, {a, b}, self));
    e->mem_ = static_cast<std::byte*>(std::aligned_alloc(base::kPageSize, 2 * bytes));
    if (e->mem_ == nullptr) return base::Error("out of memory", ENOMEM);
    std::memset(e->mem_, 0x5a, 2 * bytes);
    fid_mr* mr = TRY(e->ep_->register_memory(e->mem_, 2 * bytes));
    e->end_ =
        std::make_unique<rpc::BareEnd>(*e->ep_, mr, e->mem_, e->mem_ + bytes, bytes, 1 - self);
    return e;
  }
  ~BenchBareEnd() {
    end_.reset();
    ep_.reset();
    std::free(mem_);
  }
  rpc::BareEnd& end() { return *end_; }

 private:
  BenchBareEnd() = default;
  std::unique_ptr<rpc::FabricEndpoint> ep_;
  std::byte* mem_ = nullptr;
  std::unique_ptr<rpc::BareEnd> end_;
};

}  // namespace dsm
