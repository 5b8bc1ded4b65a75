#pragma once
// FabricEndpoint: one libfabric FI_EP_RDM endpoint bound to a host:port, with
// an address vector holding every node, one completion queue and memory
// registration. It owns the libfabric objects and nothing else, so both
// FabricTransport and the bare ping-pong of `pangaea bench rtt` build on it
// (the benchmark then compares like with like).
//
// Threads: the provider is opened with FI_THREAD_SAFE, so posting from any
// thread while one thread reads the completion queue is allowed.

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_eq.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"

namespace rpc {

struct FabricAddress {
  std::string host;  // IPv4 address or name
  uint16_t port = 0;
};

struct FidDeleter {
  void operator()(fid* f) const {
    if (f) fi_close(f);
  }
};
using FidPtr = std::unique_ptr<fid, FidDeleter>;

// "tcp;ofi_rxm", "sockets", "verbs" (run over ofi_rxm), "shm".
std::string rdm_provider(std::string_view provider);

class FabricEndpoint {
 public:
  // Opens `provider`, binds to peers[self], puts every peer in the AV
  // (fi_addr(i) is peers[i]).
  static base::StatusOr<std::unique_ptr<FabricEndpoint>> Create(
      std::string_view provider, const std::vector<FabricAddress>& peers, int self);
  ~FabricEndpoint();

  fid_ep* ep() const { return ep_; }
  fid_cq* cq() const { return cq_; }
  fi_addr_t fi_addr(int peer) const { return addrs_[static_cast<size_t>(peer)]; }
  // Whether descriptors from register_memory must accompany sends/receives.
  bool needs_desc() const { return needs_desc_; }
  const std::string& provider_name() const { return provider_name_; }
  size_t iov_limit() const { return iov_limit_; }
  // Whether fi_cq_sread works (else the caller polls).
  bool can_wait() const { return can_wait_; }

  // Registers memory for sends and receives. The region stays registered
  // until the endpoint is destroyed.
  base::StatusOr<fid_mr*> register_memory(void* base, size_t len);

  // Waits up to `timeout_ms` for completions (blocking read if the provider
  // can, else one poll). Returns as fi_cq_read does.
  ssize_t read_cq(fi_cq_msg_entry* entries, size_t count, int timeout_ms);

 private:
  FabricEndpoint() = default;

  fi_info* info_ = nullptr;
  fid_fabric* fabric_ = nullptr;
  fid_domain* domain_ = nullptr;
  fid_av* av_ = nullptr;
  fid_cq* cq_ = nullptr;
  fid_ep* ep_ = nullptr;
  std::vector<fid_mr*> mrs_;
  std::vector<fi_addr_t> addrs_;
  bool needs_desc_ = false;
  bool can_wait_ = false;
  size_t iov_limit_ = 1;
  std::string provider_name_;
};

std::string fabric_error(std::string_view what, int ret);

}  // namespace rpc
