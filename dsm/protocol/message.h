#pragma once
// Protocol messages: one flat struct for every type, so the transport can
// map it field by field onto its wire header (rpc/PROTOCOL.md). The page
// payload itself is not here: `has_page` says a 4 KiB page travels with the
// message, and the transport carries its bytes beside the header.
//
// Field use by type (unused fields are zero):
//   requests  kReadReq/kWriteReq: requester, req, version = the requester's
//             copy version, has_copy = the requester holds a Shared copy.
//             Forwarded requests (ivy-dynamic) keep requester and req.
//   grants    kReadGrant/kWriteGrant: req of the request they answer,
//             version = data version (read) or new ownership epoch (write),
//             copyset = the sharers the new owner must invalidate (ivy).
//   claims    kClaim (first-touch): requester = the claimant (= from);
//             kClaimReply: requester = the frame's home, the claimant that
//             won (dsm/PROTOCOLS.md "Placement"); version, req unused.
//   others    version names the epoch the message is about.
// See dsm/PROTOCOLS.md for the exchanges.

#include <cstdint>
#include <string_view>

#include "dsm/protocol/types.h"

namespace dsm::protocol {

enum class MsgType : uint8_t {
  kReadReq = 1,        // requester -> home (msi) / probable owner (ivy)
  kWriteReq = 2,       // same, for write access (also an upgrade from Shared)
  kReadGrant = 3,      // home/owner -> requester, with page
  kWriteGrant = 4,     // home/owner -> requester, page unless an upgrade
  kGrantRefused = 5,   // requester -> granter: "I never asked for this grant"
  kInval = 6,          // home/new owner -> sharer: drop your Shared copy
  kInvalAck = 7,       // sharer -> home/new owner
  kRecall = 8,         // home -> owner (msi): write back and downgrade to Shared
  kRecallReply = 9,    // owner -> home (msi), page if the owner held it
  kWriteBack = 10,     // evicting owner -> home (msi), with page
  kWriteBackAck = 11,  // home -> evicting owner (msi)
  kHandback = 12,      // evicting owner -> home (ivy), with page and copyset
  kHandbackAck = 13,   // home -> evicting owner (ivy)
  kClaim = 14,         // first-touch: node -> the frame's arbiter, "I touch it; who is home?"
  kClaimReply = 15,    // arbiter -> claimant: the frame's home (the first claimant)
  kLost = 16,          // home/owner -> requester: the frame's data died with a node
                       // (dsm/PROTOCOLS.md "Node failure"); req = the request answered
};
inline constexpr uint8_t kMaxMsgType = 16;

std::string_view to_string(MsgType t);

struct Message {
  MsgType type = MsgType::kReadReq;
  bool has_page = false;
  bool has_copy = false;
  NodeId from = kNoNode;       // sender of this hop
  NodeId to = kNoNode;         // receiver of this hop
  NodeId requester = kNoNode;  // requests and forwarded requests: who asked
  Version version = 0;
  FrameId frame = 0;
  RequestId req = 0;
  uint64_t copyset = 0;

  bool operator==(const Message&) const = default;
};

}  // namespace dsm::protocol
