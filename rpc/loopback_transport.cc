#include "rpc/loopback_transport.h"

#include <condition_variable>
#include <cstring>
#include <queue>
#include <thread>

#include "base/thread_name.h"
#include "rpc/transport_base.h"

namespace rpc {

using Clock = std::chrono::steady_clock;

// Frames waiting for one node, ordered by delivery time.
class LoopbackInbox {
 public:
  struct Item {
    Clock::time_point due;
    uint64_t seq;
    std::shared_ptr<std::vector<uint64_t>> frame;  // 8-aligned storage
    size_t len;
    bool operator>(const Item& o) const { return due != o.due ? due > o.due : seq > o.seq; }
  };

  void push(Clock::time_point due, std::shared_ptr<std::vector<uint64_t>> frame, size_t len) {
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      items_.push(Item{due, seq_++, std::move(frame), len});
    }
    cv_.notify_one();
  }

  // The next due frame, or nothing after `wait` or once closed.
  bool pop(Item& out, std::chrono::milliseconds wait) {
    std::unique_lock lock(mu_);
    auto until = Clock::now() + wait;
    while (!closed_) {
      auto now = Clock::now();
      if (!items_.empty() && items_.top().due <= now) {
        out = items_.top();
        items_.pop();
        return true;
      }
      if (now >= until) return false;
      auto next = items_.empty() ? until : std::min(until, items_.top().due);
      cv_.wait_until(lock, next);
    }
    return false;
  }

  void close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }
  bool closed() const {
    std::lock_guard lock(mu_);
    return closed_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> items_ GUARDED_BY(mu_);
  uint64_t seq_ GUARDED_BY(mu_) = 0;
  bool closed_ GUARDED_BY(mu_) = false;
};

namespace {

class LoopbackTransport final : public TransportBase {
 public:
  LoopbackTransport(LoopbackNetwork& net, NodeId self, auth::Keys keys)
      : TransportBase(net.names(), self, keys),
        net_(net),
        inbox_(std::make_shared<LoopbackInbox>()) {
    net_.set_inbox(self, inbox_);
    thread_ = std::thread([this] {
      base::name_this_thread("pg-loopback");
      run();
    });
  }

  ~LoopbackTransport() override {
    net_.set_inbox(self(), nullptr);
    inbox_->close();
    thread_.join();
    close();
  }

  base::Status register_memory(void*, size_t) override { return base::ok_status(); }

 private:
  base::Status raw_send(NodeId to, std::span<const std::byte> head, const std::byte* page,
                        SentFn sent) override {
    size_t len = head.size() + (page ? base::kPageSize : 0);
    std::vector<uint64_t> frame((len + 7) / 8);
    auto* out = reinterpret_cast<std::byte*>(frame.data());
    if (page) {
      std::memcpy(out, page, base::kPageSize);
      out += base::kPageSize;
    }
    std::memcpy(out, head.data(), head.size());
    net_.deliver(self(), to, std::move(frame), len);
    if (sent) sent();
    return base::ok_status();
  }

  base::Status raw_send_pages(NodeId to, std::span<const std::byte> head,
                              std::span<const std::byte* const> pages) override {
    size_t len = head.size() + pages.size() * base::kPageSize;
    std::vector<uint64_t> frame((len + 7) / 8);
    auto* out = reinterpret_cast<std::byte*>(frame.data());
    for (const std::byte* page : pages) {
      std::memcpy(out, page, base::kPageSize);
      out += base::kPageSize;
    }
    std::memcpy(out, head.data(), head.size());
    net_.deliver(self(), to, std::move(frame), len);
    return base::ok_status();
  }

  // A loopback link copies every page anyway; do not count that as a fallback.
  bool page_registered(const std::byte*) const override { return true; }

  void run() {
    LoopbackInbox::Item item;
    while (!inbox_->closed()) {
      if (inbox_->pop(item, std::chrono::milliseconds(5))) {
        on_receive(reinterpret_cast<const std::byte*>(item.frame->data()), item.len);
      }
      tick();
    }
  }

  LoopbackNetwork& net_;
  std::shared_ptr<LoopbackInbox> inbox_;
  std::thread thread_;
};

}  // namespace

LoopbackNetwork::LoopbackNetwork(std::vector<std::string> names, FaultOptions faults)
    : names_(std::move(names)), faults_(faults) {
  inboxes_.resize(names_.size());
  isolated_.resize(names_.size());
}

void LoopbackNetwork::set_faults(FaultOptions faults) {
  std::lock_guard lock(mu_);
  faults_ = FaultInjector(faults);
}

void LoopbackNetwork::set_isolated(NodeId id, bool isolated) {
  std::lock_guard lock(mu_);
  if (id >= 0 && static_cast<size_t>(id) < isolated_.size()) isolated_[id] = isolated;
}

LoopbackNetwork::~LoopbackNetwork() = default;

base::StatusOr<std::unique_ptr<Transport>> LoopbackNetwork::attach(NodeId id,
                                                                   std::string_view secret) {
  if (id < 0 || id >= static_cast<NodeId>(names_.size())) {
    return base::Error("loopback: no node " + std::to_string(id), EINVAL);
  }
  {
    std::lock_guard lock(mu_);
    if (inboxes_[id]) return base::Error("loopback: node " + names_[id] + " is attached", EBUSY);
  }
  auth::Keys keys = TRY(auth::Keys::Create(secret));
  return std::unique_ptr<Transport>(new LoopbackTransport(*this, id, keys));
}

void LoopbackNetwork::set_inbox(NodeId id, std::shared_ptr<LoopbackInbox> inbox) {
  std::lock_guard lock(mu_);
  inboxes_[id] = std::move(inbox);
}

void LoopbackNetwork::deliver(NodeId from, NodeId to, std::vector<uint64_t> frame, size_t len) {
  auto shared = std::make_shared<std::vector<uint64_t>>(std::move(frame));
  auto now = Clock::now();
  std::lock_guard lock(mu_);
  frames_++;
  if (to < 0 || static_cast<size_t>(to) >= inboxes_.size()) return;
  auto& inbox = inboxes_[to];
  bool cut = isolated_[to] ||
             (from >= 0 && static_cast<size_t>(from) < isolated_.size() && isolated_[from]);
  if (!inbox || cut) {
    dropped_++;
    return;
  }
  if (!faults_.options().any()) {
    inbox->push(now, std::move(shared), len);
    return;
  }
  auto plan = faults_.plan();
  if (plan.empty()) dropped_++;
  for (auto delay : plan) inbox->push(now + delay, shared, len);
}

uint64_t LoopbackNetwork::frames() const {
  std::lock_guard lock(mu_);
  return frames_;
}

uint64_t LoopbackNetwork::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

}  // namespace rpc
