#include "dsm/protocol/ivy_dynamic.h"

#include <algorithm>
#include <bit>

#include <fmt/format.h>

namespace dsm::protocol {

IvyDynamic::IvyDynamic(ProtocolConfig config)
    : ProtocolBase(std::move(config)), table_(this->config().frame_count) {
  // Every frame starts as the zero page, owned by its home. With
  // first-touch the home is not known yet (kNoNode): see home_learned().
  for (FrameId f = 0; f < table_.size(); ++f) {
    IvyEntry& e = table_[f];
    e.version = this->config().first_version;
    e.prob_owner = home_of(f);
    if (e.prob_owner == self()) e.flags |= kIvyOwner;
  }
}

// first-touch: the home (the first to touch the frame) is its first owner,
// of the zero page in its home copy; everybody else points at it.
void IvyDynamic::home_learned(FrameId f, NodeId home) {
  IvyEntry& e = table_[f];
  if (e.prob_owner != kNoNode) return;
  e.prob_owner = home;
  if (home == self()) e.flags |= kIvyOwner;
}

FrameView IvyDynamic::local_view(FrameId f) const {
  const IvyEntry& e = table_[f];
  FrameView v;
  v.state = e.state;
  v.pending = e.pending;
  v.busy = e.busy();
  v.version = e.version;
  return v;
}

std::string IvyDynamic::describe_local(FrameId f) const {
  const IvyEntry& e = table_[f];
  std::string s = fmt::format("{}{} v{} prob={} copyset={:#x} pending={} want={} req={}{}",
                              to_string(e.state), e.owner() ? " owner" : "", e.version,
                              e.prob_owner, e.copyset, to_string(e.pending), to_string(e.want),
                              e.req, (e.flags & kIvySent) ? " sent" : "");
  if (e.flags & kIvyLost) s += " lost";
  if (e.flags & kIvyStranded) s += " stranded";
  auto it = busy_.find(f);
  if (it != busy_.end()) {
    const Busy& b = it->second;
    const char* kind = b.kind == Busy::Kind::kInval     ? "inval"
                       : b.kind == Busy::Kind::kHandoff ? "handoff"
                                                        : "handback";
    s += fmt::format(" | busy {} to={} req={} v{} copyset={:#x} acks={:#x} queued={}", kind, b.to,
                     b.req, b.version, b.copyset, b.acks, b.queue.size());
  }
  return s;
}

IvyDynamic::Busy& IvyDynamic::set_busy(FrameId f, Busy::Kind kind) {
  table_[f].flags |= kIvyBusy;
  Busy& b = busy_[f];
  std::deque<Message> queue = std::move(b.queue);
  b = Busy{};
  b.kind = kind;
  b.queue = std::move(queue);
  return b;
}

void IvyDynamic::clear_busy(FrameId f) {
  auto it = busy_.find(f);
  std::deque<Message> queue;
  if (it != busy_.end()) {
    queue = std::move(it->second.queue);
    busy_.erase(it);
  }
  table_[f].flags &= ~kIvyBusy;
  // Our own deferred access first, then what others asked meanwhile; a
  // request that makes the frame busy again re-queues the rest behind it.
  send_deferred(f);
  for (const Message& m : queue) on_request(m);
}

// ---------------------------------------------------------------------------
// Local events.

void IvyDynamic::coalesce(FrameId f, Access a) {
  IvyEntry& e = table_[f];
  e.want = std::max(e.want, a);
}

void IvyDynamic::fault(FrameId f, Access a) {
  IvyEntry& e = table_[f];
  const bool dead_end = !e.owner() && (down(e.prob_owner) || down(home_of(f)));
  if ((e.flags & kIvyLost) || dead_end) {
    // A write to a readable copy nobody can grant (see lose_frame()): the
    // copy goes, as with msi-home. A dead end: first-touch taught us a home
    // that had died meanwhile.
    if (e.state != LocalState::kInvalid) drop(f);
    e.state = LocalState::kInvalid;
    e.pending = e.want = a;  // lose_frame fails it
    lose_frame(f);           // and ends a hand-over record we may still keep
    return;
  }
  e.pending = e.want = a;
  e.req = next_req_++;
  e.flags &= ~kIvySent;
  if (!e.busy()) send_deferred(f);  // else: after the hand-over settles
}

// Starts the pending access: locally if we own the frame, else by asking
// the probable owner.
void IvyDynamic::send_deferred(FrameId f) {
  IvyEntry& e = table_[f];
  if (e.pending == Access::kNone || (e.flags & kIvySent) || e.busy()) return;
  if (e.owner()) {
    owner_access(f);
    return;
  }
  e.flags |= kIvySent;
  send_request(f);
  arm_timer(f);
}

void IvyDynamic::send_request(FrameId f) {
  const IvyEntry& e = table_[f];
  Message m = make(e.pending == Access::kWrite ? MsgType::kWriteReq : MsgType::kReadReq, f,
                   e.prob_owner, e.version, e.req);
  m.requester = self();
  m.has_copy = e.state == LocalState::kShared;
  send(m);
}

void IvyDynamic::owner_access(FrameId f) {
  IvyEntry& e = table_[f];
  if (e.state == LocalState::kInvalid) {  // the home copy (at first the zero page)
    install(f, Access::kRead, data_source(f));
    e.state = LocalState::kShared;
  }
  if (e.want != Access::kWrite) {
    e.pending = e.want = Access::kNone;
    complete(f, Access::kRead);
    return;
  }
  complete(f, Access::kRead);
  owner_write(f);
}

// The owner wants to write: a new epoch; invalidate the copies first.
void IvyDynamic::owner_write(FrameId f) {
  IvyEntry& e = table_[f];
  ++e.version;
  e.copyset = alive(e.copyset) & ~node_bit(self());
  if (e.copyset == 0) {
    finish_write(f);
    return;
  }
  Busy& b = set_busy(f, Busy::Kind::kInval);
  b.acks = e.copyset;
  for (uint64_t s = e.copyset; s; s &= s - 1) {
    send(make(MsgType::kInval, f, static_cast<NodeId>(std::countr_zero(s)), e.version));
  }
  arm_timer(f);
}

void IvyDynamic::finish_write(FrameId f) {
  IvyEntry& e = table_[f];
  install(f, Access::kWrite, data_source(f));
  e.state = LocalState::kModified;
  e.copyset = 0;
  e.pending = e.want = Access::kNone;
  e.flags &= ~kIvySent;
  complete(f, Access::kWrite);
}

base::Status IvyDynamic::evict(FrameId f) {
  IvyEntry& e = table_[f];
  if (e.pending != Access::kNone || e.busy()) {
    return base::Error("evict: a request or hand-over is in flight", EBUSY);
  }
  if ((e.flags & (kIvyStranded | kIvyLost)) && e.state != LocalState::kInvalid) {
    return base::Error("evict: no live node can take this copy back", EBUSY);
  }
  if (!e.owner()) {
    if (e.state == LocalState::kShared) {  // silent: the copyset is a superset
      drop(f);
      e.state = LocalState::kInvalid;
      ++stats_.evictions;
    }
    return {};
  }
  if (e.state == LocalState::kInvalid) return {};  // the bytes are in the home copy
  if (home_of(f) == self()) {
    // The owner of last resort: its home copy takes the bytes, ownership
    // and the copyset stay.
    if (e.state == LocalState::kModified) {
      write_protect(f);
      store(f, PageSource::kCache);
    }
    drop(f);
    e.state = LocalState::kInvalid;
    ++stats_.evictions;
    return {};
  }
  // Hand ownership back to the home; keep the bytes read-only until it has them.
  if (e.state == LocalState::kModified) {
    write_protect(f);
    e.state = LocalState::kShared;
  }
  uint64_t copyset = e.copyset | node_bit(self());
  e.flags &= ~kIvyOwner;
  e.prob_owner = home_of(f);
  Busy& b = set_busy(f, Busy::Kind::kHandback);
  b.to = home_of(f);
  b.version = e.version;
  b.copyset = copyset;
  Message m = make(MsgType::kHandback, f, b.to, e.version);
  m.copyset = copyset;
  send(m, PageSource::kCache);
  arm_timer(f);
  ++stats_.evictions;
  return {};
}

void IvyDynamic::timeout(FrameId f) {
  IvyEntry& e = table_[f];
  bool again = false;
  if (e.pending != Access::kNone && (e.flags & kIvySent)) {
    ++stats_.retries;
    send_request(f);
    again = true;
  }
  if (e.busy()) {
    const Busy& b = busy_[f];
    if (b.kind == Busy::Kind::kInval) {
      for (uint64_t s = b.acks; s; s &= s - 1) {
        send(make(MsgType::kInval, f, static_cast<NodeId>(std::countr_zero(s)), e.version));
      }
      ++stats_.retries;
      again = true;
    } else if (b.kind == Busy::Kind::kHandback) {
      Message m = make(MsgType::kHandback, f, b.to, b.version);
      m.copyset = b.copyset;
      send(m, PageSource::kCache);
      ++stats_.retries;
      again = true;
    } else {
      // kHandoff: the requester's retries reach us too, but a grant that
      // answered a stale duplicate has no requester retrying it; sent again,
      // it is either taken, refused, or (taken already) ignored.
      send_grant(f, b);
      ++stats_.retries;
      again = true;
    }
  }
  if (again) arm_timer(f);
}

// ---------------------------------------------------------------------------
// Requests: serve as owner, queue while busy, or forward.

void IvyDynamic::on_request(const Message& m) {
  FrameId f = m.frame;
  IvyEntry& e = table_[f];
  if (m.requester == self()) {
    stale();  // our own request came back along an old chain; our retry goes on
    return;
  }
  if (down(m.requester)) {
    stale();  // queued or forwarded before its requester died
    return;
  }
  if ((e.flags & kIvyLost) && !e.owner()) {
    answer_lost(m);  // the chain ends here: no live owner behind us
    return;
  }
  if (e.busy()) {
    Busy& b = busy_[f];
    if (b.kind == Busy::Kind::kHandoff && b.to == m.requester && b.req == m.req) {
      ++stats_.retries;  // the grant was lost: send it again
      send_grant(f, b);
      return;
    }
    auto same = [&](const Message& q) { return q.requester == m.requester && q.req == m.req; };
    if (std::any_of(b.queue.begin(), b.queue.end(), same)) {
      stale();
      return;
    }
    b.queue.push_back(m);
    ++stats_.queued;
    return;
  }
  if (!e.owner()) {
    Message fwd = m;
    fwd.to = e.prob_owner;
    ++stats_.forwards;
    send(fwd);
    return;
  }
  serve(m);
}

void IvyDynamic::serve(const Message& m) {
  FrameId f = m.frame;
  IvyEntry& e = table_[f];
  if (e.state == LocalState::kModified) {
    write_protect(f);
    if (home_of(f) == self()) store(f, PageSource::kCache);  // see data_source()
    e.state = LocalState::kShared;
  }
  if (m.type == MsgType::kReadReq) {
    e.copyset |= node_bit(m.requester);
    send(make(MsgType::kReadGrant, f, m.requester, e.version, m.req), data_source(f));
    return;
  }
  // Write: ownership and the copyset move to the requester, which
  // invalidates them (us included) before it writes. We keep our copy until
  // then, so nothing is lost if the grant is.
  bool upgrade = m.has_copy && m.version == e.version && e.state == LocalState::kShared;
  uint64_t copyset = (e.copyset | node_bit(self())) & ~node_bit(m.requester);
  e.flags &= ~kIvyOwner;
  e.prob_owner = m.requester;
  Busy& b = set_busy(f, Busy::Kind::kHandoff);
  b.to = m.requester;
  b.req = m.req;
  b.version = e.version + 1;
  b.copyset = copyset;
  b.page = !upgrade;
  send_grant(f, b);
  arm_timer(f);
}

void IvyDynamic::send_grant(FrameId f, const Busy& b) {
  Message g = make(MsgType::kWriteGrant, f, b.to, b.version, b.req);
  g.copyset = b.copyset;
  send(g, b.page ? data_source(f) : PageSource::kNone);
}

base::Status IvyDynamic::handle(const Message& m) {
  switch (m.type) {
    case MsgType::kReadReq:
    case MsgType::kWriteReq:
      on_request(m);
      return {};
    case MsgType::kReadGrant:
      return on_read_grant(m);
    case MsgType::kWriteGrant:
      return on_write_grant(m);
    case MsgType::kGrantRefused:
      return on_grant_refused(m);
    case MsgType::kInval:
      return on_inval(m);
    case MsgType::kInvalAck:
      return on_inval_ack(m);
    case MsgType::kHandback:
      return on_handback(m);
    case MsgType::kHandbackAck:
      if (m.from != home_of(m.frame)) return reject(m, "hand-back ack not from the home");
      return on_handback_ack(m);
    case MsgType::kLost:
      return on_lost(m);
    default:
      return reject(m, "not an ivy-dynamic message");
  }
}

}  // namespace dsm::protocol
