#pragma once
// FabricEndpoint: one libfabric FI_EP_RDM endpoint bound to a host:port (shm:
// named after it, see shm_name), with
// an address vector holding every node, one completion queue and memory
// registration. It owns the libfabric objects and nothing else, so both
// FabricTransport and the bare ping-pong of `pangaea bench rtt` build on it
// (the benchmark then compares like with like).
//
// Threads: the provider is opened with FI_THREAD_SAFE, so posting from any
// thread while one thread reads the completion queue is allowed. wait_cq()
// is for one thread at a time (the progress thread); signal() for any.

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_eq.h>

#include <sys/types.h>
#include <cstdint>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/thread_annotations.h"
#include "base/unique_fd.h"

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

// The shm provider names endpoints by string, not host:port. A node's name
// is derived from its configured address: "pangaea-<host>-<port>" (the
// segment /dev/shm/pangaea-<host>-<port>); rpc/PROTOCOL.md, "Addresses".
base::StatusOr<std::string> shm_name(const FabricAddress& a);

class FabricEndpoint {
 public:
  // Opens `provider`, binds to peers[self], puts every peer in the AV
  // (fi_addr(i) is peers[i]).
  static base::StatusOr<std::unique_ptr<FabricEndpoint>> Create(
      std::string_view provider, const std::vector<FabricAddress>& peers, int self);
  ~FabricEndpoint();

  fid_ep* ep() const { return ep_; }
  fid_cq* cq() const { return cq_; }
  // FI_ADDR_NOTAVAIL while an shm peer has not created its endpoint yet
  // (send later: the caller treats it as FI_EAGAIN).
  fi_addr_t fi_addr(int peer) {
    fi_addr_t a = addrs_[static_cast<size_t>(peer)].load(std::memory_order_acquire);
    return a != FI_ADDR_NOTAVAIL || shm_names_.empty() ? a : map_peer(peer, false);
  }
  // shm: forgets `peer` if it died (its segment is gone, unlocked or
  // replaced) and maps it if a live segment is there; returns its address.
  // A no-op for other providers. REQUIRES: the caller is the only thread
  // that reads the CQ, and nothing is sent to `peer` meanwhile (forgetting
  // unmaps its region).
  fi_addr_t refresh_peer(int peer) { return map_peer(peer, true); }
  bool is_shm() const { return !shm_names_.empty(); }
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
  // The same, but a provider without wait objects (shm) is polled with a
  // growing sleep between polls (kPollMin doubling to kPollMax, reset by a
  // completion or signal()) instead of once: an idle progress thread wakes
  // at most every kPollMax, not continuously.
  ssize_t wait_cq(fi_cq_msg_entry* entries, size_t count, int timeout_ms);
  // Ends a wait_cq()/read_cq() in progress early (fi_cq_signal, or the
  // poller's condition variable for providers without wait objects).
  void signal();

  static constexpr std::chrono::microseconds kPollMin{50};
  static constexpr std::chrono::microseconds kPollMax{1000};

 private:
  FabricEndpoint() = default;
  static base::StatusOr<std::unique_ptr<FabricEndpoint>> CreateShm(
      const std::vector<FabricAddress>& peers, int self);
  // Opens fabric, domain, AV (for addrs_.size() peers), CQ and endpoint.
  base::Status open(fi_info* info, const std::string& where, bool poll_only);
  // Binds AV and CQ to the endpoint and enables it.
  base::Status enable(const std::string& where);
  // shm: segment ownership (see fabric_endpoint.cc).
  base::Status remove_stale_segment(const std::string& name);
  base::Status lock_segment(const std::string& name);
  // Whether a live, fully set-up endpoint holds the segment at `path`.
  static bool segment_owned(const std::string& path);
  // refresh_peer(); without `drop_dead` it only maps a peer not mapped yet.
  fi_addr_t map_peer(int peer, bool drop_dead);

  fi_info* info_ = nullptr;
  fid_fabric* fabric_ = nullptr;
  fid_domain* domain_ = nullptr;
  fid_av* av_ = nullptr;
  fid_cq* cq_ = nullptr;
  fid_ep* ep_ = nullptr;
  std::vector<fid_mr*> mrs_;
  std::vector<std::atomic<fi_addr_t>> addrs_;
  // shm only: every node's name, and the inode of the segment each peer's
  // address was made from (0: not mapped yet).
  int self_ = -1;
  std::vector<std::string> shm_names_;
  base::UniqueFd segment_lock_;  // an flock on our own segment while we live
  std::mutex av_mu_;
  std::vector<ino_t> shm_inodes_ GUARDED_BY(av_mu_);
  std::vector<std::chrono::steady_clock::time_point> shm_looked_ GUARDED_BY(av_mu_);
  bool needs_desc_ = false;
  bool can_wait_ = false;
  size_t iov_limit_ = 1;
  std::string provider_name_;

  std::chrono::microseconds poll_sleep_ = kPollMin;  // wait_cq()'s thread only
  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  bool woken_ GUARDED_BY(wake_mu_) = false;
};

std::string fabric_error(std::string_view what, int ret);

}  // namespace rpc
