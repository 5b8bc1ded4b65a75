#include "rpc/fabric_transport.h"

#include <rdma/fi_errno.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <cstring>
#include <new>

#include "base/thread_name.h"

namespace rpc {

namespace {

// Send slots hold a frame of at most one page (nearly every message); run
// slots and receive slots the largest frame.
constexpr size_t kSlotBytes = kMaxPageFrameBytes;
constexpr size_t kRunSlotBytes = kMaxFrameBytes;
constexpr size_t kRecvSlotBytes = kMaxFrameBytes;
constexpr int kWaitMs = 5;  // the timers' granularity when idle

std::byte* alloc_pages(size_t bytes) {
  void* p = std::aligned_alloc(base::kPageSize, bytes);
  if (p) std::memset(p, 0, bytes);
  return static_cast<std::byte*>(p);
}

}  // namespace

base::StatusOr<std::unique_ptr<FabricTransport>> FabricTransport::Create(
    const node::ClusterConfig& config, int self_index) {
  std::vector<std::string> names;
  std::vector<FabricAddress> addresses;
  for (const auto& n : config.nodes) {
    names.push_back(n.name);
    addresses.push_back({n.host, n.port});
  }
  return Create(node::fabric_provider_name(config.provider), std::move(names), std::move(addresses),
                self_index, config.secret);
}

base::StatusOr<std::unique_ptr<FabricTransport>> FabricTransport::Create(
    std::string_view provider, std::vector<std::string> names, std::vector<FabricAddress> addresses,
    int self_index, std::string_view secret) {
  if (names.size() != addresses.size())
    return base::Error("fabric: names/addresses differ", EINVAL);
  auth::Keys keys = TRY(auth::Keys::Create(secret));
  auto endpoint = TRY(FabricEndpoint::Create(provider, addresses, self_index));
  std::unique_ptr<FabricTransport> t(
      new FabricTransport(std::move(names), self_index, keys, std::move(endpoint)));
  TRY(t->start());
  return t;
}

FabricTransport::FabricTransport(std::vector<std::string> names, NodeId self, auth::Keys keys,
                                 std::unique_ptr<FabricEndpoint> endpoint)
    : TransportBase(std::move(names), self, keys), endpoint_(std::move(endpoint)) {}

base::Status FabricTransport::start() {
  send_buf_ = alloc_pages(kSendSlots * kSlotBytes);
  run_buf_ = alloc_pages(kRunSlots * kRunSlotBytes);
  recv_buf_ = alloc_pages(kRecvSlots * kRecvSlotBytes);
  if (!send_buf_ || !run_buf_ || !recv_buf_) {
    return base::Error("fabric: out of memory for buffers", ENOMEM);
  }
  fid_mr* smr = TRY(endpoint_->register_memory(send_buf_, kSendSlots * kSlotBytes));
  fid_mr* umr = TRY(endpoint_->register_memory(run_buf_, kRunSlots * kRunSlotBytes));
  fid_mr* rmr = TRY(endpoint_->register_memory(recv_buf_, kRecvSlots * kRecvSlotBytes));
  send_desc_ = fi_mr_desc(smr);
  run_desc_ = fi_mr_desc(umr);
  recv_desc_ = fi_mr_desc(rmr);
  // Slots [0, kSendSlots) are send slots, [kSendSlots, +kRunSlots) run slots.
  send_ops_.resize(kSendSlots + kRunSlots);
  recv_ops_.resize(kRecvSlots);
  {
    std::lock_guard lock(send_mu_);
    deferred_.resize(static_cast<size_t>(size()));
    for (size_t i = kSendSlots; i-- > 0;) {
      send_ops_[i].is_send = true;
      send_ops_[i].slot = i;
      free_slots_.push_back(i);
    }
    for (size_t i = kSendSlots + kRunSlots; i-- > kSendSlots;) {
      send_ops_[i].is_send = true;
      send_ops_[i].slot = i;
      free_run_slots_.push_back(i);
    }
  }
  for (size_t i = 0; i < kRecvSlots; ++i) {
    recv_ops_[i].slot = i;
    post_receive(i);
  }
  thread_ = std::thread([this] {
    base::name_this_thread(("pg-fabric" + std::to_string(self())).c_str());
    run();
  });
  return base::ok_status();
}

FabricTransport::~FabricTransport() {
  if (thread_.joinable()) {
    stop_ = true;
    endpoint_->signal();
    thread_.join();
  }
  close();
  // Closing the endpoint cancels what is still posted; only then is it safe
  // to free the buffers.
  endpoint_.reset();
  std::free(send_buf_);
  std::free(run_buf_);
  std::free(recv_buf_);
}

base::Status FabricTransport::register_memory(void* base, size_t len) {
  fid_mr* mr;
  {
    std::lock_guard lock(send_mu_);
    mr = TRY(endpoint_->register_memory(base, len));
    regions_.push_back({static_cast<const std::byte*>(base), len, mr});
  }
  return base::ok_status();
}

const FabricTransport::Region* FabricTransport::find_region_locked(const std::byte* page) const {
  for (const Region& r : regions_) {
    if (page >= r.base && page + base::kPageSize <= r.base + r.len) return &r;
  }
  return nullptr;
}

bool FabricTransport::page_registered(const std::byte* page) const {
  std::lock_guard lock(send_mu_);
  return endpoint_->iov_limit() >= 2 && find_region_locked(page) != nullptr;
}

void FabricTransport::post_receive(size_t slot) {
  Op& op = recv_ops_[slot];
  ssize_t ret = fi_recv(endpoint_->ep(), recv_buf_ + slot * kRecvSlotBytes, kRecvSlotBytes,
                        endpoint_->needs_desc() ? recv_desc_ : nullptr, FI_ADDR_UNSPEC, &op.ctx);
  if (ret != 0) {
    SPDLOG_DEBUG("fi_recv: {}", fi_strerror(static_cast<int>(-ret)));
    unposted_.push_back(slot);
  }
}

base::Status FabricTransport::raw_send(NodeId to, std::span<const std::byte> head,
                                       const std::byte* page, SentFn sent) {
  std::lock_guard lock(send_mu_);
  if (free_slots_.empty()) return base::Error("fabric: all send buffers are in flight", EAGAIN);
  size_t slot = free_slots_.back();
  free_slots_.pop_back();
  Op& op = send_ops_[slot];
  op.to = to;
  op.sent = std::move(sent);
  std::byte* buf = send_buf_ + slot * kSlotBytes;
  Deferred d{slot, {}, {nullptr, nullptr}, 1, to, std::chrono::steady_clock::now()};
  const Region* region =
      page != nullptr && endpoint_->iov_limit() >= 2 ? find_region_locked(page) : nullptr;
  if (region != nullptr) {
    std::memcpy(buf, head.data(), head.size());
    d.iov[0] = {const_cast<std::byte*>(page), base::kPageSize};
    d.desc[0] = fi_mr_desc(region->mr);
    d.iov[1] = {buf, head.size()};
    d.desc[1] = send_desc_;
    d.count = 2;
  } else if (page != nullptr) {
    std::memcpy(buf, page, base::kPageSize);
    std::memcpy(buf + base::kPageSize, head.data(), head.size());
    d.iov[0] = {buf, base::kPageSize + head.size()};
    d.desc[0] = send_desc_;
  } else {
    std::memcpy(buf, head.data(), head.size());
    d.iov[0] = {buf, head.size()};
    d.desc[0] = send_desc_;
  }
  if (!endpoint_->needs_desc()) d.desc[0] = d.desc[1] = nullptr;
  return post_locked(d, op);
}

base::Status FabricTransport::raw_send_pages(NodeId to, std::span<const std::byte> head,
                                             std::span<const std::byte* const> pages) {
  if (pages.size() > kMaxRunPages) return base::Error("fabric: run too long", EMSGSIZE);
  const size_t len = pages.size() * base::kPageSize + head.size();
  std::lock_guard lock(send_mu_);
  // A run that fits a send slot (requests: no pages) takes one of those.
  auto& pool = len <= kSlotBytes ? free_slots_ : free_run_slots_;
  if (pool.empty()) return base::Error("fabric: all run buffers are in flight", EAGAIN);
  size_t slot = pool.back();
  pool.pop_back();
  Op& op = send_ops_[slot];
  op.to = to;
  op.sent = nullptr;
  // One copy into a registered slot: the pages come from anywhere (the
  // home copies, a receive buffer being forwarded), one iovec entry.
  std::byte* buf = slot < kSendSlots ? send_buf_ + slot * kSlotBytes
                                     : run_buf_ + (slot - kSendSlots) * kRunSlotBytes;
  for (size_t i = 0; i < pages.size(); ++i) {
    std::memcpy(buf + i * base::kPageSize, pages[i], base::kPageSize);
  }
  std::memcpy(buf + pages.size() * base::kPageSize, head.data(), head.size());
  Deferred d{slot, {}, {nullptr, nullptr}, 1, to, std::chrono::steady_clock::now()};
  d.iov[0] = {buf, len};
  d.desc[0] = !endpoint_->needs_desc() ? nullptr : slot < kSendSlots ? send_desc_ : run_desc_;
  return post_locked(d, op);
}

base::Status FabricTransport::post_locked(Deferred d, Op& op) {
  auto& queue = deferred_[static_cast<size_t>(d.to)];
  if (!queue.empty()) {  // keep the order of frames to a peer
    queue.push_back(d);
    deferred_count_++;
    return base::ok_status();
  }
  ssize_t ret = send_now(d, op);
  if (ret == 0) expect_completions();
  if (ret == -FI_EAGAIN) {
    queue.push_back(d);
    deferred_count_++;
    endpoint_->signal();
    return base::ok_status();
  }
  if (ret != 0) {
    op.sent = nullptr;
    free_slot_locked(d.slot);
    return base::Error(fabric_error("fi_sendv", static_cast<int>(ret)), EIO);
  }
  return base::ok_status();
}

ssize_t FabricTransport::send_now(const Deferred& d, Op& op) {
  fi_addr_t addr = endpoint_->fi_addr(d.to);
  if (addr == FI_ADDR_NOTAVAIL) return -FI_EAGAIN;  // an shm peer not there yet
  return fi_sendv(endpoint_->ep(), d.iov, const_cast<void**>(d.desc), d.count, addr, &op.ctx);
}

void FabricTransport::free_slot_locked(size_t slot) {
  (slot < kSendSlots ? free_slots_ : free_run_slots_).push_back(slot);
}

void FabricTransport::retry_deferred() {
  std::vector<SentFn> failed;
  std::vector<NodeId> failed_to;
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(send_mu_);
    for (auto& queue : deferred_) {
      while (!queue.empty()) {
        Deferred& d = queue.front();
        Op& op = send_ops_[d.slot];
        ssize_t ret = -FI_EAGAIN;
        if (now - d.since < kDeferredMax) {
          ret = send_now(d, op);
          if (ret == -FI_EAGAIN) break;  // this peer is not ready; the others may be
        }
        if (ret != 0) {  // an error, or refused for too long
          failed.push_back(std::move(op.sent));
          failed_to.push_back(d.to);
          op.sent = nullptr;
          free_slot_locked(d.slot);
        }
        queue.pop_front();
        deferred_count_--;
      }
    }
  }
  for (NodeId to : failed_to) count_send_error(to);
  for (auto& fn : failed) {
    if (fn) fn();
  }
}

void FabricTransport::release_send(Op& op) {
  SentFn sent = std::move(op.sent);
  op.sent = nullptr;
  {
    std::lock_guard lock(send_mu_);
    free_slot_locked(op.slot);
  }
  if (sent) sent();
}

void FabricTransport::complete(const fi_cq_msg_entry& entry) {
  Op& op = *reinterpret_cast<Op*>(entry.op_context);
  if (op.is_send) {
    release_send(op);
    return;
  }
  on_receive(recv_buf_ + op.slot * kRecvSlotBytes, entry.len);
  post_receive(op.slot);
}

void FabricTransport::complete_error() {
  fi_cq_err_entry err{};
  if (fi_cq_readerr(endpoint_->cq(), &err, 0) < 0) return;
  if (err.op_context == nullptr) return;
  Op& op = *reinterpret_cast<Op*>(err.op_context);
  if (op.is_send) {
    SPDLOG_DEBUG("send to node {} failed: {}", op.to, fi_strerror(err.err));
    count_send_error(op.to);
    release_send(op);
    return;
  }
  if (err.err == FI_ECANCELED) return;  // shutting down
  SPDLOG_DEBUG("receive failed: {}", fi_strerror(err.err));
  if (err.err == FI_ETRUNC) count_malformed();  // longer than any valid frame
  post_receive(op.slot);
}

void FabricTransport::refresh_shm_peers() {
  std::lock_guard lock(send_mu_);  // no send to a peer while it is remapped
  for (NodeId i = 0; i < size(); ++i) {
    if (i != self()) (void)endpoint_->refresh_peer(i);
  }
}

int64_t FabricTransport::now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void FabricTransport::expect_completions() {
  spin_until_ns_.store(now_ns() + kSpin.count(), std::memory_order_seq_cst);
  // Woken now, the progress thread spins while the message is on the wire,
  // so the answer finds it awake: its wake-up is off the critical path.
  if (sleeping_.load(std::memory_order_seq_cst)) endpoint_->signal();
}

void FabricTransport::run() {
  fi_cq_msg_entry entries[16];
  auto last_tick = std::chrono::steady_clock::now();
  auto last_refresh = last_tick;
  while (!stop_.load(std::memory_order_relaxed)) {
    const bool has_deferred = deferred_count_.load(std::memory_order_relaxed) > 0;
    // Spin (yielding the core to anyone runnable) while an answer is
    // expected soon; else sleep in the CQ. With sends deferred, come back
    // soon to retry them. sleeping_ is set before spin_until_ns_ is read
    // and expect_completions() writes them in the other order, so a send
    // either sees the thread asleep (and signals) or is seen here.
    sleeping_.store(true, std::memory_order_seq_cst);
    const bool spin = now_ns() < spin_until_ns_.load(std::memory_order_seq_cst);
    if (spin) sleeping_.store(false, std::memory_order_relaxed);
    ssize_t n = endpoint_->wait_cq(entries, 16, spin ? 0 : has_deferred ? 1 : kWaitMs);
    sleeping_.store(false, std::memory_order_relaxed);
    if (n > 0) {
      for (ssize_t i = 0; i < n; ++i) complete(entries[i]);
      // Traffic comes in bursts and request/answer chains: stay awake a while.
      spin_until_ns_.store(now_ns() + kSpin.count(), std::memory_order_relaxed);
    } else if (spin && (n == 0 || n == -FI_EAGAIN)) {
      std::this_thread::yield();
    } else if (n == -FI_EAVAIL) {
      complete_error();
    } else if (n != -FI_EAGAIN && n != 0) {
      SPDLOG_DEBUG("fi_cq_read: {}", fi_strerror(static_cast<int>(-n)));
    }
    if (has_deferred) retry_deferred();
    if (!unposted_.empty()) {
      auto slots = std::move(unposted_);
      unposted_.clear();
      for (size_t s : slots) post_receive(s);
    }
    auto now = std::chrono::steady_clock::now();
    if (now - last_tick >= std::chrono::milliseconds(1)) {
      last_tick = now;
      tick();
    }
    if (endpoint_->is_shm() && now - last_refresh >= kShmRefresh) {
      last_refresh = now;
      refresh_shm_peers();
    }
  }
}

}  // namespace rpc
