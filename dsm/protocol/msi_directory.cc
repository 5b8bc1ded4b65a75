// msi-home, home side: the directory entry, recalls, invalidation rounds
// and the queue of requests behind a busy frame. The requester side and the
// dispatch are in msi_home.cc.

#include <algorithm>
#include <bit>

#include "dsm/protocol/msi_home.h"

namespace dsm::protocol {

void MsiHome::home_request(const Message& m) {
  FrameId f = m.frame;
  DirEntry& d = dir_[f];
  if (down(m.requester)) {
    stale();  // queued before its requester died: nobody to serve
    return;
  }
  if (d.state == DirState::kLost) {
    answer_lost(m);
    return;
  }
  if (d.busy()) {
    Txn& t = txns_[f];
    auto same = [&](const Message& q) { return q.requester == m.requester && q.req == m.req; };
    if (same(t.request) || std::any_of(t.queue.begin(), t.queue.end(), same)) {
      stale();  // a retry of a request already waiting
      return;
    }
    t.queue.push_back(m);
    ++stats_.queued;
    return;
  }
  if (d.state == DirState::kModified && d.owner == m.requester) {
    auto g = granted_.find(f);
    if (g != granted_.end() && m.req == g->second && m.type == MsgType::kWriteReq) {
      // The request this ownership was granted for, again: a retry whose
      // grant was lost, or a duplicate (the owner's timer fired while the
      // grant queued). The same epoch's grant again, from the home copy,
      // which stays current until the owner has the grant; an owner that
      // has it ignores this one (its request is answered).
      ++stats_.retries;
      send(make(MsgType::kWriteGrant, f, m.requester, d.version, m.req), PageSource::kHome);
      return;
    }
    if (g != granted_.end() && m.req < g->second) {
      // Older than the granted request: long answered (one request a
      // frame at a time, ids grow). Recalling the owner for it would cost
      // a recall, a grant of a new epoch the owner refuses, and the
      // owner's next write an upgrade.
      stale();
      return;
    }
  }
  if (d.state == DirState::kModified) {
    // The owner has the only current copy: recall it (the owner keeps a
    // Shared copy), then serve the request from the home copy.
    Txn& t = txns_[f];
    t = Txn{};
    t.kind = Txn::Kind::kRecall;
    t.request = m;
    d.flags |= kDirBusy;
    send(make(MsgType::kRecall, f, d.owner, d.version));
    arm_timer(f);
    return;
  }
  if (m.type == MsgType::kReadReq) {
    d.state = DirState::kShared;
    d.copyset |= node_bit(m.requester);
    send(make(MsgType::kReadGrant, f, m.requester, d.version, m.req), PageSource::kHome);
    return;
  }
  Version prev = d.version;
  ++d.version;  // a new write epoch starts
  uint64_t others = d.copyset & ~node_bit(m.requester);
  if (others == 0) {
    grant_write(m, prev);
    return;
  }
  Txn& t = txns_[f];
  t = Txn{};
  t.kind = Txn::Kind::kInval;
  t.request = m;
  t.prev = prev;
  t.acks = others;
  d.flags |= kDirBusy;
  for (uint64_t s = others; s; s &= s - 1) {
    send(make(MsgType::kInval, f, static_cast<NodeId>(std::countr_zero(s)), d.version));
  }
  arm_timer(f);
}

void MsiHome::grant_write(const Message& m, Version prev) {
  DirEntry& d = dir_[m.frame];
  // The requester's Shared copy is current if it holds the previous epoch.
  bool upgrade = m.has_copy && m.version == prev && (d.copyset & node_bit(m.requester));
  d.state = DirState::kModified;
  d.owner = m.requester;
  d.copyset = node_bit(m.requester);
  if (m.requester != self()) {
    granted_[m.frame] = m.req;
  } else {
    granted_.erase(m.frame);  // the home's own faults never ask twice
  }
  send(make(MsgType::kWriteGrant, m.frame, m.requester, d.version, m.req),
       upgrade ? PageSource::kNone : PageSource::kHome);
}

void MsiHome::finish_txn(FrameId f, bool redispatch) {
  auto it = txns_.find(f);
  Txn t = std::move(it->second);
  txns_.erase(it);
  dir_[f].flags &= ~kDirBusy;
  if (redispatch) home_request(t.request);
  // Requests that waited are served in arrival order; one may make the
  // frame busy again, and the rest then queue behind it.
  for (const Message& q : t.queue) home_request(q);
}

base::Status MsiHome::on_recall_reply(const Message& m) {
  DirEntry& d = dir_[m.frame];
  if (newer(m.version, d.version)) return reject(m, "recall reply for a future epoch");
  auto it = txns_.find(m.frame);
  if (!d.busy() || it == txns_.end() || it->second.kind != Txn::Kind::kRecall ||
      d.state != DirState::kModified || m.from != d.owner || m.version != d.version) {
    stale();
    return {};
  }
  // Without a page the owner never had this epoch's bytes: the home copy is current.
  if (m.has_page) store(m.frame, PageSource::kIncoming);
  d.state = DirState::kShared;
  granted_.erase(m.frame);
  d.copyset |= node_bit(m.from);
  finish_txn(m.frame, true);
  return {};
}

base::Status MsiHome::on_writeback(const Message& m) {
  DirEntry& d = dir_[m.frame];
  if (!m.has_page) return reject(m, "write-back without a page");
  if (newer(m.version, d.version)) return reject(m, "write-back of a future epoch");
  bool owner = d.state == DirState::kModified && d.version == m.version;
  if (owner && d.owner != m.from) return reject(m, "write-back from a node that is not the owner");
  if (owner) {
    store(m.frame, PageSource::kIncoming);
    d.state = DirState::kShared;
    granted_.erase(m.frame);
    d.copyset |= node_bit(m.from);  // it keeps the bytes until our ack
  } else {
    stale();  // we already have these bytes (recalled, or a duplicate)
  }
  send(make(MsgType::kWriteBackAck, m.frame, m.from, m.version));
  if (owner && d.busy() && txns_[m.frame].kind == Txn::Kind::kRecall) {
    finish_txn(m.frame, true);  // the write-back answered our recall
  }
  return {};
}

base::Status MsiHome::on_inval_ack(const Message& m) {
  DirEntry& d = dir_[m.frame];
  if (newer(m.version, d.version)) return reject(m, "invalidation ack for a future epoch");
  auto it = txns_.find(m.frame);
  if (!d.busy() || it == txns_.end() || it->second.kind != Txn::Kind::kInval ||
      m.version != d.version || !(it->second.acks & node_bit(m.from))) {
    stale();
    return {};
  }
  Txn& t = it->second;
  t.acks &= ~node_bit(m.from);
  if (t.acks == 0) inval_done(m.frame);
  return {};
}

void MsiHome::inval_done(FrameId f) {
  Txn& t = txns_[f];
  if (down(t.request.requester)) {
    // The writer died before its grant: nobody writes this epoch. Every
    // other copy is gone, and the home copy is current.
    DirEntry& d = dir_[f];
    d.state = DirState::kUncached;
    d.copyset = 0;
    d.owner = kNoNode;
  } else {
    grant_write(t.request, t.prev);
  }
  finish_txn(f, false);
}

void MsiHome::home_node_down(FrameId f, NodeId node) {
  DirEntry& d = dir_[f];
  if (d.state == DirState::kLost) return;
  d.copyset &= ~node_bit(node);
  auto it = txns_.find(f);
  if (d.state == DirState::kModified && d.owner == node) {
    // The only current copy died with its owner (a recall or write-back we
    // never received included): the home copy is stale. Lost, for good.
    d.state = DirState::kLost;
    granted_.erase(f);
    d.copyset = 0;
    d.owner = kNoNode;
    ++stats_.lost_frames;
    if (it != txns_.end()) {
      Txn t = std::move(it->second);
      txns_.erase(it);
      d.flags &= ~kDirBusy;
      answer_lost(t.request);  // send() drops answers to dead requesters
      for (const Message& q : t.queue) answer_lost(q);
    }
    return;
  }
  if (it == txns_.end()) return;
  Txn& t = it->second;
  std::erase_if(t.queue, [&](const Message& q) { return q.requester == node; });
  if (t.kind == Txn::Kind::kInval && (t.acks & node_bit(node))) {
    // A dead sharer's copy is gone with it: its ack counts as received.
    t.acks &= ~node_bit(node);
    ++stats_.acks_waived;
    if (t.acks == 0) inval_done(f);
  }
  // A recall of a live owner for a dead requester finishes normally;
  // home_request then skips the dead requester.
}

base::Status MsiHome::on_grant_refused(const Message& m) {
  DirEntry& d = dir_[m.frame];
  if (newer(m.version, d.version)) return reject(m, "refusal of a future grant");
  if (d.busy() || d.state != DirState::kModified || d.owner != m.from || d.version != m.version) {
    stale();  // a recall in progress settles it, or it is old
    return {};
  }
  // The grantee never wrote: the home copy is current. It may still hold a
  // Shared copy of the previous epoch, so it stays in the copyset.
  d.state = DirState::kShared;
  d.copyset = node_bit(m.from);
  granted_.erase(m.frame);
  return {};
}

}  // namespace dsm::protocol
