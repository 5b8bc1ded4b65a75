#pragma once
// FabricTransport: the Transport over libfabric (FI_EP_RDM; tcp = tcp;ofi_rxm
// by default). See rpc/PROTOCOL.md for the frame and the handshake.
//
// Buffers: registered pools of send slots (kMaxPageFrameBytes), run slots
// and receive slots (kMaxFrameBytes: a run of pages), all page-aligned. A frame is sent as an iovec
// [page, head]: the page straight from the caller's memory when it lies in a
// region given to register_memory() (no copy in this code; the provider may
// still stage small messages in its own buffers), else copied into the
// slot. Receive slots stay posted; a received page is handed to the handler
// in place, page-aligned, at the start of its slot.
//
// Dead and restarted peers: a send to a dead peer completes with an error (or
// never gets an answer); requests time out and retry, nothing blocks. When a
// peer restarts, ofi_rxm opens a new connection on the next send and the
// handshake (started because the peer's messages carry a tag we no longer
// know, or ours carry one it no longer knows) sets up a new session.
//
// Threads: one progress thread reads the completion queue, runs handlers
// and callbacks, retries deferred sends and runs TransportBase's timers.
// After a send or a completion it polls the CQ without sleeping for kSpin
// (yielding the core between polls), so an answer due within a round trip
// does not pay for waking a sleeping thread; a send from another thread
// while it sleeps signals the CQ to start that spin (expect_completions).
// Lock order: TransportBase's mutex, then send_mu_, then the endpoint's
// av_mu_ (shm peers are mapped lazily, under send_mu_).

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "base/thread_annotations.h"
#include "node/config.h"
#include "rpc/fabric_endpoint.h"
#include "rpc/transport_base.h"

namespace rpc {

class FabricTransport final : public TransportBase {
 public:
  // Binds to config.nodes[self_index]'s host:port with config.provider.
  static base::StatusOr<std::unique_ptr<FabricTransport>> Create(const node::ClusterConfig& config,
                                                                 int self_index);
  // The same without a config: names[i] listens on addresses[i].
  static base::StatusOr<std::unique_ptr<FabricTransport>> Create(
      std::string_view provider, std::vector<std::string> names,
      std::vector<FabricAddress> addresses, int self_index, std::string_view secret);
  ~FabricTransport() override;

  base::Status register_memory(void* base, size_t len) override;
  const std::string& provider_name() const { return endpoint_->provider_name(); }

  static constexpr size_t kSendSlots = 256;
  static constexpr size_t kRecvSlots = 64;
  // Send buffers for runs of pages (send_pages), kMaxFrameBytes each.
  static constexpr size_t kRunSlots = 64;
  // A send the provider keeps refusing (a peer that is down) is failed after this.
  static constexpr std::chrono::milliseconds kDeferredMax{1000};
  // How long the progress thread polls without sleeping after activity.
  static constexpr std::chrono::nanoseconds kSpin{200'000};
  // How often an shm transport looks for peers that appeared or restarted.
  static constexpr std::chrono::milliseconds kShmRefresh{100};

 private:
  struct Op {
    fi_context2 ctx;  // first: libfabric hands back &ctx
    bool is_send = false;
    size_t slot = 0;
    NodeId to = -1;
    SentFn sent;
  };
  struct Deferred {
    size_t slot;
    iovec iov[2];
    void* desc[2];
    size_t count;
    NodeId to;
    std::chrono::steady_clock::time_point since;
  };
  struct Region {
    const std::byte* base;
    size_t len;
    fid_mr* mr;
  };

  FabricTransport(std::vector<std::string> names, NodeId self, auth::Keys keys,
                  std::unique_ptr<FabricEndpoint> endpoint);
  base::Status start();
  base::Status raw_send(NodeId to, std::span<const std::byte> head, const std::byte* page,
                        SentFn sent) override;
  base::Status raw_send_pages(NodeId to, std::span<const std::byte> head,
                              std::span<const std::byte* const> pages) override;
  bool page_registered(const std::byte* page) const override;
  void free_slot_locked(size_t slot) REQUIRES(send_mu_);
  // Posts `d` (or queues it behind earlier frames to the same peer, or on
  // EAGAIN); on a hard error frees its slot and fails.
  base::Status post_locked(Deferred d, Op& op) REQUIRES(send_mu_);
  // fi_sendv to d.to; -FI_EAGAIN while its address is not available (shm).
  ssize_t send_now(const Deferred& d, Op& op) REQUIRES(send_mu_);
  const Region* find_region_locked(const std::byte* page) const REQUIRES(send_mu_);
  void post_receive(size_t slot);
  void run();
  void complete(const fi_cq_msg_entry& entry);
  void complete_error();
  void retry_deferred();
  // shm: maps peers whose segment appeared or was recreated (restarted).
  void refresh_shm_peers();
  void release_send(Op& op);
  static int64_t now_ns();
  // A send went out: its answer (if any) is due within a round trip.
  void expect_completions();

  std::unique_ptr<FabricEndpoint> endpoint_;
  std::byte* send_buf_ = nullptr;
  std::byte* run_buf_ = nullptr;
  std::byte* recv_buf_ = nullptr;
  void* send_desc_ = nullptr;
  void* run_desc_ = nullptr;
  void* recv_desc_ = nullptr;
  std::vector<Op> send_ops_;
  std::vector<Op> recv_ops_;

  mutable std::mutex send_mu_;
  std::vector<size_t> free_slots_ GUARDED_BY(send_mu_);
  std::vector<size_t> free_run_slots_ GUARDED_BY(send_mu_);
  // Sends the provider refused for now (FI_EAGAIN: no credits, or still
  // connecting), per peer so that a dead peer does not hold up the others.
  std::vector<std::deque<Deferred>> deferred_ GUARDED_BY(send_mu_);
  // deferred_'s size: changed under send_mu_, read without it by the
  // progress thread on every turn of its loop (taking send_mu_ there made
  // each sender holding it across fi_sendv wake a progress thread blocked
  // on it, docs/PERFORMANCE.md "Remote faults").
  std::atomic<size_t> deferred_count_{0};
  std::vector<Region> regions_ GUARDED_BY(send_mu_);

  std::vector<size_t> unposted_;  // progress thread only
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> spin_until_ns_{0};  // steady clock
  std::atomic<bool> sleeping_{false};      // the progress thread is (about to be) in fi_cq_sread
  std::thread thread_;
};

}  // namespace rpc
