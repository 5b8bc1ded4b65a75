#include "dsm/protocol/msi_home.h"

#include <algorithm>
#include <bit>

#include <fmt/format.h>

namespace dsm::protocol {

MsiHome::MsiHome(ProtocolConfig config)
    : ProtocolBase(std::move(config)),
      local_(this->config().frame_count),
      dir_(this->config().frame_count) {
  for (LocalEntry& e : local_) e.version = this->config().first_version;
  for (DirEntry& d : dir_) d.version = this->config().first_version;
}

FrameView MsiHome::local_view(FrameId f) const {
  const LocalEntry& e = local_[f];
  FrameView v;
  v.state = e.state;
  v.pending = e.pending;
  v.version = e.version;
  v.busy = (e.flags & kLocalWriteBack) || dir_[f].busy();
  return v;
}

std::string MsiHome::describe_local(FrameId f) const {
  const LocalEntry& e = local_[f];
  std::string s = fmt::format("{} v{} pending={} want={} req={} flags={:#x}", to_string(e.state),
                              e.version, to_string(e.pending), to_string(e.want), e.req, e.flags);
  if (home_of(f) == self()) {
    const DirEntry& d = dir_[f];
    s += fmt::format(" | dir {} v{} owner={} copyset={:#x}{}",
                     d.state == DirState::kModified ? "M"
                     : d.state == DirState::kShared ? "S"
                     : d.state == DirState::kLost   ? "LOST"
                                                    : "U",
                     d.version, d.owner, d.copyset, d.busy() ? " busy" : "");
    auto it = txns_.find(f);
    if (it != txns_.end()) {
      s += fmt::format(" txn={} for {}/{} acks={:#x} queued={}",
                       it->second.kind == Txn::Kind::kRecall ? "recall" : "inval",
                       it->second.request.requester, it->second.request.req, it->second.acks,
                       it->second.queue.size());
    }
  }
  return s;
}

// ---------------------------------------------------------------------------
// Requester side: this node's cached copy.

void MsiHome::fault(FrameId f, Access a) {
  LocalEntry& e = local_[f];
  if ((e.flags & kLocalOrphan) || down(home_of(f))) {
    // The home is gone: nobody can grant anything. Only a write to a Shared
    // copy gets here (reads of it do not fault, and an Invalid orphan is
    // lost already): it cannot be granted, and a present page cannot be
    // made to fail a write while it stays readable, so the copy goes too.
    if (e.state == LocalState::kShared) drop(f);
    e.state = LocalState::kInvalid;
    e.pending = e.want = Access::kNone;
    e.flags = kLocalOrphan | kLocalLost;
    lose(f, true);
    return;
  }
  start_request(f, a);
}

void MsiHome::orphan(FrameId f, NodeId /*home*/) {
  LocalEntry& e = local_[f];
  bool waiting = e.pending != Access::kNone;
  // A write-back the dead home never acknowledged: our copy is the data.
  e.flags &= ~(kLocalSent | kLocalWriteBack | kLocalDirty);
  e.flags |= kLocalOrphan;
  if (e.state == LocalState::kShared && e.pending == Access::kWrite) {
    drop(f);  // a write waits for a grant that cannot come (see fault())
    e.state = LocalState::kInvalid;
  }
  e.pending = e.want = Access::kNone;
  if (e.state == LocalState::kInvalid) {
    e.flags |= kLocalLost;
    lose(f, waiting);
  }
}

base::Status MsiHome::on_lost(const Message& m) {
  LocalEntry& e = local_[m.frame];
  if (e.pending == Access::kNone || m.req != e.req || (e.flags & kLocalLost)) {
    stale();
    return {};
  }
  // The home's directory says the frame died with its owner. A Shared copy
  // we hold (an upgrade was asked) is older than the lost data: drop it.
  if (e.state != LocalState::kInvalid) drop(m.frame);
  e.state = LocalState::kInvalid;
  e.pending = e.want = Access::kNone;
  e.flags = kLocalLost;
  lose(m.frame, true);
  return {};
}

void MsiHome::node_down(NodeId node) {
  for (FrameId f = 0; f < local_.size(); ++f) {
    NodeId home = home_of(f);
    if (home == self()) {
      home_node_down(f, node);
    } else if (home == node) {
      orphan(f, node);
    }
  }
}

void MsiHome::coalesce(FrameId f, Access a) {
  LocalEntry& e = local_[f];
  e.want = std::max(e.want, a);
}

void MsiHome::start_request(FrameId f, Access a) {
  LocalEntry& e = local_[f];
  e.pending = a;
  e.want = a;
  e.req = next_req_++;
  if (e.flags & kLocalWriteBack) {
    // Our write-back is in flight: ask only once the home has it, so the
    // home never sees a request from a node it still believes owns the frame.
    e.flags &= ~kLocalSent;
    return;
  }
  e.flags |= kLocalSent;
  send_request(f);
  arm_timer(f);
}

void MsiHome::send_request(FrameId f) {
  const LocalEntry& e = local_[f];
  Message m = make(e.pending == Access::kWrite ? MsgType::kWriteReq : MsgType::kReadReq, f,
                   home_of(f), e.version, e.req);
  m.requester = self();
  m.has_copy = e.state == LocalState::kShared;
  send(m);
}

void MsiHome::send_deferred(FrameId f) {
  LocalEntry& e = local_[f];
  // Never while our write-back is unacknowledged (see start_request).
  if (e.pending == Access::kNone || (e.flags & (kLocalSent | kLocalWriteBack))) return;
  e.flags |= kLocalSent;
  send_request(f);
  arm_timer(f);
}

base::Status MsiHome::evict(FrameId f) {
  LocalEntry& e = local_[f];
  if (e.pending != Access::kNone) return base::Error("evict: a request is in flight", EBUSY);
  if ((e.flags & kLocalOrphan) && e.state != LocalState::kInvalid) {
    return base::Error("evict: the frame's home is down; this copy is the only one", EBUSY);
  }
  if (e.flags & kLocalWriteBack) return {};  // already being written back
  switch (e.state) {
    case LocalState::kInvalid:
      return {};
    case LocalState::kShared:
      if (e.flags & kLocalDirty) {
        // We were recalled and the home may not have our reply yet: this
        // copy may be the only current one, so write it back like kModified.
        e.flags = (e.flags & ~kLocalDirty) | kLocalWriteBack;
        send(make(MsgType::kWriteBack, f, home_of(f), e.version), PageSource::kCache);
        arm_timer(f);
        ++stats_.evictions;
        return {};
      }
      // Silent: the home's copyset keeps us until the next invalidation,
      // which we then simply acknowledge.
      drop(f);
      e.state = LocalState::kInvalid;
      ++stats_.evictions;
      return {};
    case LocalState::kModified:
      // Keep the bytes read-only until the home acknowledges them.
      write_protect(f);
      e.state = LocalState::kShared;
      e.flags |= kLocalWriteBack;
      send(make(MsgType::kWriteBack, f, home_of(f), e.version), PageSource::kCache);
      arm_timer(f);
      ++stats_.evictions;
      return {};
  }
  return {};
}

base::Status MsiHome::on_read_grant(const Message& m) {
  if (!m.has_page) return reject(m, "read grant without a page");
  LocalEntry& e = local_[m.frame];
  if (e.pending != Access::kRead || m.req != e.req) {
    stale();
    return {};
  }
  if (newer(e.version, m.version)) {
    // Granted before an invalidation we have already seen: out of date.
    stale();
    ++stats_.retries;
    send_request(m.frame);
    return {};
  }
  install(m.frame, Access::kRead, PageSource::kIncoming);
  e.state = LocalState::kShared;
  e.version = m.version;
  Access want = e.want;
  e.pending = e.want = Access::kNone;
  e.flags &= ~kLocalSent;
  complete(m.frame, Access::kRead);
  if (want == Access::kWrite) start_request(m.frame, Access::kWrite);
  return {};
}

base::Status MsiHome::on_write_grant(const Message& m) {
  LocalEntry& e = local_[m.frame];
  if (e.pending != Access::kWrite || m.req != e.req) {
    if (newer(m.version, e.version)) {
      // Ownership we never took (the grant answers a stale duplicate of an
      // old request): give it back so the home does not wait on us.
      Message r = make(MsgType::kGrantRefused, m.frame, home_of(m.frame), m.version, m.req);
      send(r);
    }
    stale();
    return {};
  }
  if (!newer(m.version, e.version)) {
    // Revoked by a recall we answered without the page: ask again.
    stale();
    ++stats_.retries;
    send_request(m.frame);
    return {};
  }
  if (!m.has_page && e.state != LocalState::kShared) {
    // An upgrade grant, but our copy is gone: refuse and ask again, as a
    // new request: the home answers the granted request's id with the same
    // grant again (a lost grant), which must not meet our refusal.
    send(make(MsgType::kGrantRefused, m.frame, home_of(m.frame), m.version, m.req));
    stale();
    ++stats_.retries;
    e.req = next_req_++;
    send_request(m.frame);
    return {};
  }
  install(m.frame, Access::kWrite, m.has_page ? PageSource::kIncoming : PageSource::kCache);
  e.state = LocalState::kModified;
  e.version = m.version;
  e.pending = e.want = Access::kNone;
  e.flags &= ~(kLocalSent | kLocalDirty);
  complete(m.frame, Access::kWrite);
  return {};
}

base::Status MsiHome::on_inval(const Message& m) {
  LocalEntry& e = local_[m.frame];
  if (newer(m.version, e.version) && e.state == LocalState::kModified) {
    return reject(m, "invalidation of a Modified copy");
  }
  if (!newer(m.version, e.version)) {
    stale();  // a duplicate, or older than the copy we hold: keep it
  } else {
    if (e.state == LocalState::kShared) {
      // Also ends a write-back: the home has our bytes, it recalled or
      // received them before starting this write epoch.
      drop(m.frame);
      e.state = LocalState::kInvalid;
      e.flags &= ~(kLocalWriteBack | kLocalDirty);
      ++stats_.invalidations;
    }
    e.version = m.version;
  }
  send(make(MsgType::kInvalAck, m.frame, m.from, m.version));
  send_deferred(m.frame);
  return {};
}

base::Status MsiHome::on_recall(const Message& m) {
  LocalEntry& e = local_[m.frame];
  if (m.version == e.version && e.state != LocalState::kInvalid) {
    if (e.state == LocalState::kModified) {
      write_protect(m.frame);
      e.state = LocalState::kShared;
      e.flags |= kLocalDirty;
    }
    send(make(MsgType::kRecallReply, m.frame, m.from, m.version), PageSource::kCache);
    return {};
  }
  if (newer(m.version, e.version)) {
    if (e.state == LocalState::kModified) {
      return reject(m, "recall of an epoch newer than our Modified copy");
    }
    // We never took this ownership (its grant is lost, in flight, or answers
    // a stale duplicate): void it, so that grant is ignored when it comes,
    // and say so. A Shared copy we hold is older than the home's epoch, so
    // the home has its bytes (even if our write-back ack is still on its way).
    if (e.state == LocalState::kShared) {
      drop(m.frame);
      e.state = LocalState::kInvalid;
      e.flags &= ~(kLocalDirty | kLocalWriteBack);
    }
    e.version = m.version;
    send(make(MsgType::kRecallReply, m.frame, m.from, m.version));
    if (e.pending != Access::kNone && (e.flags & kLocalSent)) {
      ++stats_.retries;
      send_request(m.frame);
    } else {
      send_deferred(m.frame);  // it waited for the write-back this recall ended
    }
    return {};
  }
  if (m.version == e.version) {
    // Same epoch, no copy: the home already has our bytes (write-back acked)
    // or we never had them; either way the home copy is current.
    send(make(MsgType::kRecallReply, m.frame, m.from, m.version));
  }
  stale();
  return {};
}

base::Status MsiHome::on_writeback_ack(const Message& m) {
  LocalEntry& e = local_[m.frame];
  if (!(e.flags & kLocalWriteBack) || m.version != e.version) {
    stale();
    return {};
  }
  drop(m.frame);
  e.state = LocalState::kInvalid;
  e.flags &= ~(kLocalWriteBack | kLocalDirty);
  send_deferred(m.frame);
  return {};
}

// ---------------------------------------------------------------------------

base::Status MsiHome::handle(const Message& m) {
  bool at_home = home_of(m.frame) == self();
  switch (m.type) {
    case MsgType::kReadReq:
    case MsgType::kWriteReq:
      if (!at_home && by_claim() && arbiter_of(m.frame) == self()) {
        // first-touch: the requester asks the arbiter; tell it the home.
        if (m.requester != m.from) return reject(m, "requester is not the sender");
        redirect(m);
        return {};
      }
      if (!at_home) return reject(m, "this node is not the frame's home");
      break;
    case MsgType::kRecallReply:
    case MsgType::kWriteBack:
    case MsgType::kInvalAck:
    case MsgType::kGrantRefused:
      if (!at_home) return reject(m, "this node is not the frame's home");
      break;
    case MsgType::kReadGrant:
    case MsgType::kWriteGrant:
    case MsgType::kInval:
    case MsgType::kRecall:
    case MsgType::kWriteBackAck:
    case MsgType::kLost:
      if (m.from != home_of(m.frame)) return reject(m, "sender is not the frame's home");
      break;
    case MsgType::kHandback:
    case MsgType::kHandbackAck:
    case MsgType::kClaim:  // (handled before handle(): protocol_claims.cc)
    case MsgType::kClaimReply:
      return reject(m, "not an msi-home message");
  }
  switch (m.type) {
    case MsgType::kReadReq:
    case MsgType::kWriteReq:
      if (m.requester != m.from) return reject(m, "requester is not the sender");
      home_request(m);
      return {};
    case MsgType::kRecallReply:
      return on_recall_reply(m);
    case MsgType::kWriteBack:
      return on_writeback(m);
    case MsgType::kInvalAck:
      return on_inval_ack(m);
    case MsgType::kGrantRefused:
      return on_grant_refused(m);
    case MsgType::kReadGrant:
      return on_read_grant(m);
    case MsgType::kWriteGrant:
      return on_write_grant(m);
    case MsgType::kInval:
      return on_inval(m);
    case MsgType::kRecall:
      return on_recall(m);
    case MsgType::kWriteBackAck:
      return on_writeback_ack(m);
    case MsgType::kLost:
      return on_lost(m);
    default:
      return reject(m, "not an msi-home message");
  }
}

void MsiHome::timeout(FrameId f) {
  LocalEntry& e = local_[f];
  bool again = false;
  if (e.pending != Access::kNone && (e.flags & kLocalSent)) {
    ++stats_.retries;
    send_request(f);
    again = true;
  }
  if (e.flags & kLocalWriteBack) {
    ++stats_.retries;
    send(make(MsgType::kWriteBack, f, home_of(f), e.version), PageSource::kCache);
    again = true;
  }
  if (home_of(f) == self() && dir_[f].busy()) {
    const DirEntry& d = dir_[f];
    const Txn& t = txns_[f];
    ++stats_.retries;
    if (t.kind == Txn::Kind::kRecall) {
      send(make(MsgType::kRecall, f, d.owner, d.version));
    } else {
      for (uint64_t s = t.acks; s; s &= s - 1) {
        send(make(MsgType::kInval, f, static_cast<NodeId>(std::countr_zero(s)), d.version));
      }
    }
    again = true;
  }
  if (again) arm_timer(f);
}

}  // namespace dsm::protocol
