#pragma once
// Plumbing shared by the protocols (not part of the public API): action
// emission, statistics, checks every message must pass, and delivery of
// messages a node sends to itself (handled in the same call, in order, so a
// home's own faults cost no network round trip).

#include <deque>
#include <utility>

#include "dsm/protocol/protocol.h"

namespace dsm::protocol {

class ProtocolBase : public Protocol {
 public:
  explicit ProtocolBase(ProtocolConfig config) : cfg_(std::move(config)) {}

  const ProtocolConfig& config() const final { return cfg_; }
  const ProtocolStats& stats() const final { return stats_; }

  void on_fault(FrameId frame, Access access, Actions* out) final;
  base::Status on_evict(FrameId frame, Actions* out) final;
  base::Status on_message(const Message& msg, Actions* out) final;
  void on_timeout(FrameId frame, Actions* out) final;

 protected:
  // Implemented by each protocol; `out_` is valid during the call.
  // on_fault has already answered a fault the local copy satisfies and
  // counted the rest: fault() starts a request (none is pending), coalesce()
  // joins the pending one (remember the strongest access wanted).
  virtual void fault(FrameId frame, Access access) = 0;
  virtual void coalesce(FrameId frame, Access access) = 0;
  virtual base::Status evict(FrameId frame) = 0;
  // REQUIRES: check_message(msg) passed. An error must leave state unchanged.
  virtual base::Status handle(const Message& msg) = 0;
  virtual void timeout(FrameId frame) = 0;

  NodeId self() const { return cfg_.self; }
  NodeId home_of(FrameId f) const { return cfg_.placement->home_of(f); }

  // A message about frame `f` for `to`; send() fills in `from`.
  static Message make(MsgType type, FrameId f, NodeId to, Version version, RequestId req = 0) {
    Message m;
    m.type = type;
    m.frame = f;
    m.to = to;
    m.version = version;
    m.req = req;
    return m;
  }
  // Sends `m` (from = self) with a page from `page` (kNone: no page).
  void send(Message m, PageSource page = PageSource::kNone);
  void install(FrameId f, Access a, PageSource page);
  void write_protect(FrameId f) { emit(ActionType::kWriteProtect, f); }
  void drop(FrameId f) { emit(ActionType::kDrop, f); }
  void store(FrameId f, PageSource page);
  void complete(FrameId f, Access a);
  void arm_timer(FrameId f) { emit(ActionType::kArmTimer, f); }
  void stale() { ++stats_.stale; }

  // Errors used for rejected messages.
  static base::Error reject(const Message& m, const char* why);

  ProtocolStats stats_;

 private:
  void emit(ActionType type, FrameId f, Access a = Access::kNone,
            PageSource page = PageSource::kNone);
  base::Status check_message(const Message& m) const;
  void drain_self();

  ProtocolConfig cfg_;
  Actions* out_ = nullptr;
  // Where kIncoming bytes come from while handling the current message:
  // kIncoming for a received one, the sender's source for a message to self.
  PageSource incoming_ = PageSource::kIncoming;
  std::deque<std::pair<Message, PageSource>> self_queue_;
};

}  // namespace dsm::protocol
