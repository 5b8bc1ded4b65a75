// ivy-dynamic, the answers: grants, refusals, invalidations and their acks,
// hand-backs. Local events, requests and the dispatch are in ivy_dynamic.cc.

#include <bit>

#include "dsm/protocol/ivy_dynamic.h"

namespace dsm::protocol {

base::Status IvyDynamic::on_read_grant(const Message& m) {
  if (!m.has_page) return reject(m, "read grant without a page");
  IvyEntry& e = table_[m.frame];
  if (e.pending != Access::kRead || m.req != e.req || e.owner()) {
    stale();
    return {};
  }
  if (newer(e.version, m.version)) {  // granted before an invalidation we saw
    stale();
    ++stats_.retries;
    send_request(m.frame);
    return {};
  }
  install(m.frame, Access::kRead, PageSource::kIncoming);
  e.state = LocalState::kShared;
  e.version = m.version;
  e.prob_owner = m.from;
  Access want = e.want;
  e.pending = e.want = Access::kNone;
  e.flags &= ~kIvySent;
  complete(m.frame, Access::kRead);
  if (want == Access::kWrite) {
    e.pending = e.want = Access::kWrite;
    e.req = next_req_++;
    send_deferred(m.frame);
  }
  return {};
}

base::Status IvyDynamic::on_write_grant(const Message& m) {
  if (m.copyset >> config().node_count) return reject(m, "copyset names unknown nodes");
  FrameId f = m.frame;
  IvyEntry& e = table_[f];
  Message refuse = make(MsgType::kGrantRefused, f, m.from, m.version, m.req);
  if (e.flags & kIvyLost) {
    // We gave the frame up (node failure): never take it; the granter takes
    // its ownership back instead of re-sending the grant forever.
    send(refuse);
    stale();
    return {};
  }
  if (e.pending != Access::kWrite || m.req != e.req || e.owner()) {
    if (newer(m.version, e.version)) send(refuse);  // we never took it: give it back
    stale();
    return {};
  }
  if (!newer(m.version, e.version)) {
    stale();
    ++stats_.retries;
    send_request(f);
    return {};
  }
  if (!m.has_page && e.state != LocalState::kShared) {
    send(refuse);  // an upgrade, but our copy is gone
    stale();
    return {};  // our timeout asks again
  }
  if (m.has_page) {
    // Read-only until the other copies are gone.
    install(f, Access::kRead, PageSource::kIncoming);
    e.state = LocalState::kShared;
    complete(f, Access::kRead);
  }
  if (home_of(f) == self()) {
    // The home owns the frame again: its home copy takes the bytes (see
    // data_source()); an upgrade's are those of our read-only copy.
    store(f, m.has_page ? PageSource::kIncoming : PageSource::kCache);
  }
  e.flags |= kIvyOwner;
  e.flags &= ~kIvySent;
  e.prob_owner = self();
  e.version = m.version;
  e.copyset = alive(m.copyset) & ~node_bit(self());
  if (e.copyset == 0) {
    finish_write(f);
    return {};
  }
  Busy& b = set_busy(f, Busy::Kind::kInval);
  b.acks = e.copyset;
  for (uint64_t s = e.copyset; s; s &= s - 1) {
    send(make(MsgType::kInval, f, static_cast<NodeId>(std::countr_zero(s)), e.version));
  }
  arm_timer(f);
  return {};
}

base::Status IvyDynamic::on_grant_refused(const Message& m) {
  IvyEntry& e = table_[m.frame];
  if (!e.busy() || (e.flags & kIvyLost)) {
    stale();
    return {};
  }
  Busy& b = busy_[m.frame];
  if (b.kind != Busy::Kind::kHandoff || b.to != m.from || b.req != m.req ||
      b.version != m.version) {
    stale();
    return {};
  }
  // Take ownership back. The refused epoch is used up, so no later grant
  // can be mistaken for it.
  e.flags |= kIvyOwner;
  e.prob_owner = self();
  e.version = b.version;
  e.copyset = alive(b.copyset | node_bit(m.from)) & ~node_bit(self());
  clear_busy(m.frame);
  return {};
}

base::Status IvyDynamic::on_inval(const Message& m) {
  FrameId f = m.frame;
  IvyEntry& e = table_[f];
  bool is_newer = newer(m.version, e.version);
  if (is_newer && (e.owner() || e.state == LocalState::kModified)) {
    return reject(m, "invalidation of the owner's copy");
  }
  if (!is_newer) {
    stale();  // a repeat, or from an owner older than what we know: keep everything
  } else {
    if (e.state == LocalState::kShared) {
      drop(f);
      e.state = LocalState::kInvalid;
      ++stats_.invalidations;
    }
    e.version = m.version;
    e.prob_owner = m.from;
  }
  send(make(MsgType::kInvalAck, f, m.from, m.version));
  if (is_newer && e.busy()) {
    // A newer owner exists: our hand-over (to it, or back to the home that
    // then passed it on) is complete.
    Busy::Kind k = busy_[f].kind;
    if (k == Busy::Kind::kHandoff || k == Busy::Kind::kHandback) clear_busy(f);
  } else {
    send_deferred(f);
  }
  return {};
}

base::Status IvyDynamic::on_inval_ack(const Message& m) {
  FrameId f = m.frame;
  IvyEntry& e = table_[f];
  if (!e.busy() || busy_[f].kind != Busy::Kind::kInval || m.version != e.version ||
      !(busy_[f].acks & node_bit(m.from))) {
    stale();
    return {};
  }
  Busy& b = busy_[f];
  b.acks &= ~node_bit(m.from);
  if (b.acks == 0) {
    finish_write(f);
    clear_busy(f);
  }
  return {};
}

base::Status IvyDynamic::on_handback(const Message& m) {
  FrameId f = m.frame;
  IvyEntry& e = table_[f];
  if (home_of(f) != self()) return reject(m, "hand-back to a node that is not the home");
  if (!m.has_page) return reject(m, "hand-back without a page");
  if (m.copyset >> config().node_count) return reject(m, "copyset names unknown nodes");
  if (e.owner() && newer(m.version, e.version))
    return reject(m, "hand-back while we own the frame");
  if (e.owner() || newer(e.version, m.version) || e.busy()) {
    // A duplicate: we took it already (and may have passed it on).
    stale();
    send(make(MsgType::kHandbackAck, f, m.from, m.version));
    return {};
  }
  // Into the home copy, not the cache: no budget slot is needed, and a
  // read-ahead fetch of ours in flight is answered from it (send_deferred)
  // with a copy the engine may drop again at will. A cached copy of an
  // older epoch (its Inval still on the way) goes.
  store(f, PageSource::kIncoming);
  if (e.state == LocalState::kShared && newer(m.version, e.version)) {
    drop(f);
    e.state = LocalState::kInvalid;
  }
  e.version = m.version;
  e.flags |= kIvyOwner;
  // A request of ours in flight is answered by this; a frame we had given
  // up as lost (our pointer led to a dead node) is back with its owner's bytes.
  e.flags &= ~(kIvySent | kIvyLost);
  e.prob_owner = self();
  e.copyset = alive(m.copyset) & ~node_bit(self());
  send(make(MsgType::kHandbackAck, f, m.from, m.version));
  send_deferred(f);
  return {};
}

base::Status IvyDynamic::on_handback_ack(const Message& m) {
  FrameId f = m.frame;
  IvyEntry& e = table_[f];
  if (!e.busy() || busy_[f].kind != Busy::Kind::kHandback || busy_[f].version != m.version) {
    stale();
    return {};
  }
  drop(f);
  e.state = LocalState::kInvalid;
  clear_busy(f);
  return {};
}

}  // namespace dsm::protocol
