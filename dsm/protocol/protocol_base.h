#pragma once
// Plumbing shared by the protocols (not part of the public API): action
// emission, statistics, checks every message must pass, delivery of
// messages a node sends to itself (handled in the same call, in order, so a
// home's own faults cost no network round trip), and the first-touch claim
// exchange (protocol_claims.cc), which runs before a protocol sees any
// event for a frame whose home this node does not know yet.

#include <deque>
#include <unordered_map>
#include <utility>
#include <vector>

#include "dsm/protocol/protocol.h"

namespace dsm::protocol {

class ProtocolBase : public Protocol {
 public:
  explicit ProtocolBase(ProtocolConfig config);

  const ProtocolConfig& config() const final { return cfg_; }
  const ProtocolStats& stats() const final { return stats_; }

  void on_fault(FrameId frame, Access access, Actions* out) final;
  base::Status on_evict(FrameId frame, Actions* out) final;
  base::Status on_message(const Message& msg, Actions* out) final;
  void on_timeout(FrameId frame, Actions* out) final;
  void on_node_down(NodeId node, Actions* out) final;
  void on_node_up(NodeId node, Actions* out) final;
  bool node_is_down(NodeId node) const final { return node < 64 && (down_ & node_bit(node)); }

  // The protocol's view, with a claim in flight shown as the pending access.
  FrameView view(FrameId frame) const final;
  std::string describe(FrameId frame) const final;
  NodeId home_of(FrameId f) const final {
    return homes_.empty() ? cfg_.placement->home_of(f) : homes_[f];
  }

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
  virtual FrameView local_view(FrameId frame) const = 0;
  virtual std::string describe_local(FrameId frame) const = 0;
  // first-touch: this node has just learned `home` for `frame` (once per
  // frame, before any fault() for it and before any other message about it
  // reaches handle()).
  virtual void home_learned(FrameId /*frame*/, NodeId /*home*/) {}
  // `node` was declared down (it is already in down_, so sends to it are
  // dropped and its messages rejected). Must end every wait on it.
  virtual void node_down(NodeId node) = 0;
  // Whether the frame is lost on this node (faults on it fail at once).
  virtual bool frame_lost(FrameId frame) const = 0;

  NodeId self() const { return cfg_.self; }
  // first-touch: homes are learned from the frames' arbiters.
  bool by_claim() const { return !homes_.empty(); }
  NodeId arbiter_of(FrameId f) const { return cfg_.placement->home_of(f); }
  // Whether the frame's home (or, first-touch with the home not known here,
  // its arbiter) died: this node restarted and homes it, or the arbiter
  // died before telling us. Nothing of it can be had.
  bool root_died(FrameId f) const;
  // first-touch, at the arbiter: answers a request for a frame homed
  // elsewhere with the home (a ClaimReply), instead of serving it.
  void redirect(const Message& request);

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
  // The frame became lost here (counts lost_frames). `waiting`: local
  // faults wait for it: fail them (kFail, counted in failed_faults). Later
  // faults fail in on_fault (frame_lost()).
  void lose(FrameId f, bool waiting) {
    ++stats_.lost_frames;
    if (waiting) {
      ++stats_.failed_faults;
      emit(ActionType::kFail, f);
    }
  }
  bool down(NodeId n) const { return node_is_down(n); }
  // Copysets taken from messages (ivy-dynamic) may name nodes that died
  // since they were sent: without them, nobody waits for a dead node's ack.
  uint64_t alive(uint64_t copyset) const { return copyset & ~down_; }
  // Answers a request for a lost frame (the requester fails its faults).
  void answer_lost(const Message& request);
  void stale() { ++stats_.stale; }

  // Errors used for rejected messages.
  static base::Error reject(const Message& m, const char* why);

  ProtocolStats stats_;

 private:
  void emit(ActionType type, FrameId f, Access a = Access::kNone,
            PageSource page = PageSource::kNone);
  base::Status check_message(const Message& m) const;
  void drain_self();
  // Claims first, then the protocol's handle() (protocol_claims.cc).
  base::Status dispatch(const Message& m);
  void start_claim(FrameId f, Access a);
  void send_claim(FrameId f);
  base::Status on_claim(const Message& m);
  base::Status on_claim_reply(const Message& m);

  ProtocolConfig cfg_;
  Actions* out_ = nullptr;
  // Where kIncoming bytes come from while handling the current message:
  // kIncoming for a received one, the sender's source for a message to self.
  PageSource incoming_ = PageSource::kIncoming;
  std::deque<std::pair<Message, PageSource>> self_queue_;
  // first-touch only (empty otherwise): per frame, the home this node knows
  // (kNoNode: not yet); on the frame's arbiter, its decision. 2 bytes a frame.
  std::vector<NodeId> homes_;
  // first-touch: claims in flight, with the strongest access the local
  // faults wait for. Only frames being claimed are here.
  std::unordered_map<FrameId, Access> claims_;
  // Nodes declared down and not back; nodes that were ever down (with
  // first-touch, the decisions of an arbiter that died are gone for good).
  uint64_t down_ = 0;
  uint64_t ever_down_ = 0;
  // This node restarted while the cluster ran (on_node_down(self)): it
  // serves no frame it homes and decides no claim, never again.
  bool restarted_ = false;
};

}  // namespace dsm::protocol
