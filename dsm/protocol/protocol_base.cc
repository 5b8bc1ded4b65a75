#include "dsm/protocol/protocol_base.h"

#include <algorithm>
#include <string>

#include <fmt/format.h>

namespace dsm::protocol {

ProtocolBase::ProtocolBase(ProtocolConfig config) : cfg_(std::move(config)) {
  if (cfg_.placement && cfg_.placement->homes_by_claim()) {
    homes_.assign(cfg_.frame_count, kNoNode);
  }
}

FrameView ProtocolBase::view(FrameId frame) const {
  FrameView v = local_view(frame);
  v.lost = frame_lost(frame);
  if (!claims_.empty()) {
    if (auto it = claims_.find(frame); it != claims_.end()) v.pending = it->second;
  }
  return v;
}

std::string ProtocolBase::describe(FrameId frame) const {
  std::string s = describe_local(frame);
  if (by_claim()) {
    s += fmt::format(" | home {}", homes_[frame] == kNoNode ? -1 : int(homes_[frame]));
    if (auto it = claims_.find(frame); it != claims_.end()) {
      s += fmt::format(" claiming for {}", to_string(it->second));
    }
  }
  return s;
}

void ProtocolBase::on_fault(FrameId frame, Access access, Actions* out) {
  out_ = out;
  if (frame < cfg_.frame_count && access != Access::kNone) {
    const FrameView v = view(frame);
    if (v.lost || root_died(frame)) {
      // Lost here, or its home's data or its arbiter's decision is gone:
      // the fault fails.
      ++stats_.failed_faults;
      emit(ActionType::kFail, frame);
    } else if (v.state == LocalState::kModified ||
        (access == Access::kRead && v.state != LocalState::kInvalid)) {
      // Already enough (another thread's fault resolved it first).
      complete(frame, v.state == LocalState::kModified ? Access::kWrite : Access::kRead);
    } else {
      ++stats_.faults;
      if (v.pending != Access::kNone) {
        ++stats_.coalesced;
        if (auto it = claims_.find(frame); it != claims_.end()) {
          it->second = std::max(it->second, access);
        } else {
          coalesce(frame, access);
        }
      } else if (home_of(frame) == kNoNode) {
        start_claim(frame, access);  // first-touch: ask the arbiter first
      } else {
        fault(frame, access);
      }
    }
  }
  drain_self();
  out_ = nullptr;
}

base::Status ProtocolBase::on_evict(FrameId frame, Actions* out) {
  if (frame >= cfg_.frame_count)
    return base::Error("evict: no frame " + std::to_string(frame), EINVAL);
  out_ = out;
  base::Status st = evict(frame);
  drain_self();
  out_ = nullptr;
  return st;
}

base::Status ProtocolBase::on_message(const Message& msg, Actions* out) {
  if (base::Status st = check_message(msg); !st.ok()) {
    ++stats_.rejected;
    return st;
  }
  if (down(msg.from)) {
    // Sent before it died (late in the network) or by a node we believe
    // dead: its state is gone, so nothing it says may change ours.
    ++stats_.rejected;
    ++stats_.from_down;
    return reject(msg, "from a node declared down");
  }
  out_ = out;
  incoming_ = PageSource::kIncoming;
  base::Status st = dispatch(msg);
  if (st.ok()) {
    ++stats_.received[static_cast<uint8_t>(msg.type)];
  } else {
    ++stats_.rejected;
  }
  drain_self();
  out_ = nullptr;
  return st;
}

void ProtocolBase::on_timeout(FrameId frame, Actions* out) {
  if (frame >= cfg_.frame_count) return;
  out_ = out;
  if (claims_.count(frame) != 0) {
    ++stats_.retries;
    send_claim(frame);
    arm_timer(frame);
  }
  timeout(frame);
  drain_self();
  out_ = nullptr;
}

bool ProtocolBase::root_died(FrameId f) const {
  const NodeId home = home_of(f);
  if (home == kNoNode) return (ever_down_ & node_bit(arbiter_of(f))) != 0;
  return restarted_ && home == cfg_.self;
}

void ProtocolBase::on_node_down(NodeId node, Actions* out) {
  if (node == cfg_.self && !restarted_) {
    // Our previous incarnation died: nothing it held is here. As arbiter
    // (first-touch) its decisions are gone too, so ever_down_ has us.
    restarted_ = true;
    ever_down_ |= node_bit(node);
    ++stats_.nodes_down;
    return;
  }
  if (node >= cfg_.node_count || node == cfg_.self || down(node)) return;
  out_ = out;
  down_ |= node_bit(node);
  ever_down_ |= node_bit(node);
  ++stats_.nodes_down;
  // first-touch: a claim waiting for a dead arbiter gets no answer, ever.
  for (auto it = claims_.begin(); it != claims_.end();) {
    if (arbiter_of(it->first) == node) {
      lose(it->first, true);
      it = claims_.erase(it);
    } else {
      ++it;
    }
  }
  node_down(node);
  drain_self();
  out_ = nullptr;
}

void ProtocolBase::on_node_up(NodeId node, Actions* /*out*/) {
  if (node >= cfg_.node_count) return;
  // A new, empty incarnation: node_down() already removed it from every
  // copyset and wait; frames lost with it stay lost (their flags persist).
  down_ &= ~node_bit(node);
}

void ProtocolBase::answer_lost(const Message& request) {
  send(make(MsgType::kLost, request.frame, request.requester, 0, request.req));
}

void ProtocolBase::drain_self() {
  while (!self_queue_.empty()) {
    auto [m, page] = self_queue_.front();
    self_queue_.pop_front();
    incoming_ = page;
    if (dispatch(m).ok()) {
      ++stats_.received[static_cast<uint8_t>(m.type)];
    } else {
      ++stats_.rejected;  // a bug: our own message was refused
    }
  }
  incoming_ = PageSource::kIncoming;
}

base::Status ProtocolBase::check_message(const Message& m) const {
  auto type = static_cast<uint8_t>(m.type);
  if (type == 0 || type > kMaxMsgType) return reject(m, "unknown message type");
  if (m.to != cfg_.self) return reject(m, "addressed to another node");
  if (m.from >= cfg_.node_count) return reject(m, "from an unknown node");
  if (m.frame >= cfg_.frame_count) return reject(m, "unknown frame");
  bool request =
      m.type == MsgType::kReadReq || m.type == MsgType::kWriteReq || m.type == MsgType::kClaim;
  if (request && m.requester >= cfg_.node_count) return reject(m, "unknown requester");
  if (!request && m.requester != kNoNode && m.requester >= cfg_.node_count) {
    return reject(m, "unknown requester");
  }
  return {};
}

base::Error ProtocolBase::reject(const Message& m, const char* why) {
  return base::Error(std::string("protocol: rejected ") + std::string(to_string(m.type)) +
                         " for frame " + std::to_string(m.frame) + " from node " +
                         std::to_string(m.from) + ": " + why,
                     EPROTO);
}

void ProtocolBase::emit(ActionType type, FrameId f, Access a, PageSource page) {
  Action act;
  act.type = type;
  act.frame = f;
  act.access = a;
  act.page = page;
  out_->push_back(act);
}

void ProtocolBase::send(Message m, PageSource page) {
  m.from = cfg_.self;
  if (page == PageSource::kIncoming) page = incoming_;
  m.has_page = page != PageSource::kNone;
  if (down(m.to)) return;  // nobody there to receive it
  ++stats_.sent[static_cast<uint8_t>(m.type)];
  if (m.to == cfg_.self) {
    self_queue_.emplace_back(m, page);
    return;
  }
  Action act;
  act.type = ActionType::kSend;
  act.frame = m.frame;
  act.page = page;
  act.msg = m;
  out_->push_back(act);
}

void ProtocolBase::install(FrameId f, Access a, PageSource page) {
  emit(ActionType::kInstall, f, a, page == PageSource::kIncoming ? incoming_ : page);
}

void ProtocolBase::store(FrameId f, PageSource page) {
  emit(ActionType::kStore, f, Access::kNone, page == PageSource::kIncoming ? incoming_ : page);
}

void ProtocolBase::complete(FrameId f, Access a) { emit(ActionType::kComplete, f, a); }

}  // namespace dsm::protocol
