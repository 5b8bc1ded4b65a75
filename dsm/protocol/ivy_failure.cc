// ivy-dynamic, node failure (dsm/PROTOCOLS.md "Node failure"): what a node
// does when membership declares another node dead, and the Lost answer.
//
// There is no directory to consult: the dead node may have owned a frame,
// or merely have been a stale link of a probable-owner chain, and nobody
// can tell which without asking everyone. The rule is local and
// conservative, so every wait ends and nothing stale is ever read:
//  - an owner drops the dead node from its copyset and counts an awaited
//    invalidation ack from it as received;
//  - a hand-over in flight to the dead node (we granted it ownership; it may
//    have written) makes the frame lost here, and so does a hand-back in
//    flight to a dead home (it may have taken it and passed it on);
//  - a non-owner whose probable-owner pointer leads to the dead node, or
//    whose frame's home (the owner of last resort) is the dead node, loses
//    the frame: its chain ends in a node that may have held the only copy.
//    (Re-pointing at the home instead was tried: the home's pointer may
//    lead back to us, a cycle the model check found.) Requests that reach
//    a node where the frame is lost are answered Lost, so chains through
//    it end too.
// A frame may thus be declared lost while a live node still owns it (the
// dead node had passed it on): pessimistic, never incoherent: that owner
// stays the only writer, and nodes that got Lost never read.

#include "dsm/protocol/ivy_dynamic.h"

namespace dsm::protocol {

void IvyDynamic::lose_frame(FrameId f) {
  IvyEntry& e = table_[f];
  bool waiting = e.pending != Access::kNone;
  if (e.state != LocalState::kInvalid && e.pending == Access::kWrite) {
    drop(f);  // a write waits for a grant that cannot come
    e.state = LocalState::kInvalid;
  }
  e.pending = e.want = Access::kNone;
  e.flags &= ~(kIvySent | kIvyOwner);
  e.flags |= kIvyLost;
  e.copyset = 0;
  if (e.state == LocalState::kInvalid) {
    lose(f, waiting);
  } else if (waiting) {
    ++stats_.failed_faults;
  }
  // Requests that waited behind a busy frame get the answer too.
  auto it = busy_.find(f);
  if (it != busy_.end()) {
    std::deque<Message> queue = std::move(it->second.queue);
    busy_.erase(it);
    e.flags &= ~kIvyBusy;
    for (const Message& q : queue) answer_lost(q);
  }
}

void IvyDynamic::node_down(NodeId node) {
  const uint64_t bit = node_bit(node);
  for (FrameId f = 0; f < table_.size(); ++f) {
    IvyEntry& e = table_[f];
    if (e.flags & kIvyLost) continue;
    const NodeId home = home_of(f);
    e.copyset &= ~bit;
    auto it = busy_.find(f);
    if (it != busy_.end()) {
      Busy& b = it->second;
      std::erase_if(b.queue, [&](const Message& q) { return q.requester == node; });
      if (b.kind == Busy::Kind::kInval && (b.acks & bit)) {
        b.acks &= ~bit;
        ++stats_.acks_waived;
        if (b.acks == 0) {
          finish_write(f);
          clear_busy(f);
        }
      } else if (b.kind == Busy::Kind::kHandoff && b.to == node) {
        // It may have written: our read-only copy may be older than the
        // last write, so it goes.
        if (e.state != LocalState::kInvalid) drop(f);
        e.state = LocalState::kInvalid;
        lose_frame(f);
        continue;
      } else if (b.kind == Busy::Kind::kHandback && b.to == node) {
        // The dead home may have taken our hand-back and passed the frame
        // on (a newer epoch written since) before it died: our copy may be
        // stale. Lost. (Taking ownership back was tried: the model check
        // found two owners of one epoch.)
        if (e.state != LocalState::kInvalid) drop(f);
        e.state = LocalState::kInvalid;
        lose_frame(f);
        continue;
      }
    }
    if (e.owner()) {
      if (home == node) e.flags |= kIvyStranded;
      continue;
    }
    // Our chain leads into the dead node, or its last resort died: lost
    // here. (Re-pointing at the home instead can close a cycle: the home's
    // own pointer may lead back to us, and epochs no longer order them.)
    if (e.prob_owner == node || home == node) lose_frame(f);
  }
}

base::Status IvyDynamic::on_lost(const Message& m) {
  IvyEntry& e = table_[m.frame];
  if (e.pending == Access::kNone || m.req != e.req || e.owner()) {
    stale();
    return {};
  }
  // Behind the chain the frame is lost: a copy we hold may be older than
  // the lost data, so it goes too.
  if (e.state != LocalState::kInvalid) drop(m.frame);
  e.state = LocalState::kInvalid;
  lose_frame(m.frame);
  return {};
}

}  // namespace dsm::protocol
