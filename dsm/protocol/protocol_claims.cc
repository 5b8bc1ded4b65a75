// The first-touch claim exchange, shared by both protocols (ProtocolBase).
// See dsm/PROTOCOLS.md "Placement" for the diagram.
//
//  - A fault on a frame whose home this node does not know starts a claim:
//    Claim to the frame's arbiter (its interleave home), a retry timer, and
//    the strongest access the local faults wait for, kept in claims_. The
//    protocol sees nothing yet (its fault() comes once the home is known).
//  - The arbiter grants the first claim it receives: the claimant is the
//    frame's home, for good. It answers every claim, first or later, and
//    duplicates, with a ClaimReply naming that home.
//  - The claimant learns the home (once: homes_ never changes afterwards)
//    and only then hands the fault to the protocol, which sends its request
//    to the home, or serves it locally when it is the home.
//  - Until a node knows a frame's home it can hold nothing of the frame and
//    nobody can have heard of it, so a protocol message about the frame is
//    rejected; except while its own claim is in flight: it may have won, and
//    a loser that learned so first may already ask it. That request is
//    ignored (stale) and retried by its sender.

#include <algorithm>

#include "dsm/protocol/protocol_base.h"

namespace dsm::protocol {

void ProtocolBase::start_claim(FrameId f, Access a) {
  claims_[f] = a;
  ++stats_.claims;
  send_claim(f);
  // The arbiter's own claim is decided inside this call (a message to self).
  if (arbiter_of(f) != self()) arm_timer(f);
}

void ProtocolBase::send_claim(FrameId f) {
  Message m = make(MsgType::kClaim, f, arbiter_of(f), 0);
  m.requester = self();
  send(m);
}

void ProtocolBase::redirect(const Message& request) {
  Message r = make(MsgType::kClaimReply, request.frame, request.requester, 0);
  r.requester = homes_[request.frame];
  ++stats_.redirects;
  send(r);
}

base::Status ProtocolBase::dispatch(const Message& m) {
  const bool request = m.type == MsgType::kReadReq || m.type == MsgType::kWriteReq;
  if (restarted_ && (m.type == MsgType::kClaim || (request && (home_of(m.frame) == self() ||
                                                               home_of(m.frame) == kNoNode)))) {
    // A restarted node: whoever asks thinks we home the frame or decided
    // its claim, which our previous incarnation did, and that died with it.
    answer_lost(m);
    return {};
  }
  if (m.type == MsgType::kLost && by_claim() && homes_[m.frame] == kNoNode &&
      claims_.erase(m.frame) != 0) {
    lose(m.frame, true);  // the arbiter restarted: our claim can never be decided
    return {};
  }
  if (m.type == MsgType::kClaim) return on_claim(m);
  if (m.type == MsgType::kClaimReply) return on_claim_reply(m);
  if (by_claim() && homes_[m.frame] == kNoNode) {
    if (claims_.count(m.frame) != 0) {
      stale();  // we may be the home and not know it yet: the sender retries
      return {};
    }
    if (request && (ever_down_ & node_bit(arbiter_of(m.frame)))) {
      // The arbiter made us home and died before its reply reached us: we
      // can never learn it, and nothing of the frame is here. Lost.
      answer_lost(m);
      return {};
    }
    return reject(m, "the frame's home is not known here: nobody could have sent this");
  }
  return handle(m);
}

base::Status ProtocolBase::on_claim(const Message& m) {
  if (!by_claim()) return reject(m, "a claim, but homes are not decided by claims");
  if (arbiter_of(m.frame) != self()) return reject(m, "claim at a node that is not the arbiter");
  if (m.requester != m.from) return reject(m, "claimant is not the sender");
  if (m.has_page) return reject(m, "claim with a page");
  NodeId& home = homes_[m.frame];
  if (home == kNoNode) {
    home = m.requester;  // the first claim wins, for good
    ++stats_.claims_decided;
    home_learned(m.frame, home);
  }
  Message r = make(MsgType::kClaimReply, m.frame, m.requester, 0);
  r.requester = home;
  send(r);
  return {};
}

base::Status ProtocolBase::on_claim_reply(const Message& m) {
  if (!by_claim()) return reject(m, "a claim reply, but homes are not decided by claims");
  if (m.from != arbiter_of(m.frame)) return reject(m, "claim reply not from the arbiter");
  if (m.requester >= cfg_.node_count) return reject(m, "claim reply names no home");
  if (m.has_page) return reject(m, "claim reply with a page");
  NodeId& home = homes_[m.frame];
  if (home != kNoNode && home != m.requester) {
    return reject(m, "claim reply names another home than the one learned");
  }
  auto it = claims_.find(m.frame);
  if (it == claims_.end()) {
    if (home == kNoNode) return reject(m, "claim reply for a claim never made");
    stale();  // a duplicate, or a redirect naming the home we know
    return {};
  }
  const Access want = it->second;
  claims_.erase(it);
  if (restarted_ && m.requester == self()) {
    // The arbiter names us: our previous incarnation won this frame and
    // took its data along (or we won it now; we cannot tell, so a restarted
    // node homes nothing). Lost; requests for it are answered Lost.
    home = self();
    lose(m.frame, true);
    return {};
  }
  if (home == kNoNode) {  // (the arbiter learned it when it decided)
    home = m.requester;
    home_learned(m.frame, home);
  }
  if (home == self()) ++stats_.homes_won;
  fault(m.frame, want);
  return {};
}

}  // namespace dsm::protocol
