#include "dsm/protocol/protocol.h"

#include <string>

#include "dsm/protocol/ivy_dynamic.h"
#include "dsm/protocol/msi_home.h"

namespace dsm::protocol {

std::string_view to_string(Access a) {
  switch (a) {
    case Access::kNone:
      return "none";
    case Access::kRead:
      return "read";
    case Access::kWrite:
      return "write";
  }
  return "?";
}

std::string_view to_string(LocalState s) {
  switch (s) {
    case LocalState::kInvalid:
      return "I";
    case LocalState::kShared:
      return "S";
    case LocalState::kModified:
      return "M";
  }
  return "?";
}

std::string_view to_string(MsgType t) {
  switch (t) {
    case MsgType::kReadReq:
      return "ReadReq";
    case MsgType::kWriteReq:
      return "WriteReq";
    case MsgType::kReadGrant:
      return "ReadGrant";
    case MsgType::kWriteGrant:
      return "WriteGrant";
    case MsgType::kGrantRefused:
      return "GrantRefused";
    case MsgType::kInval:
      return "Inval";
    case MsgType::kInvalAck:
      return "InvalAck";
    case MsgType::kRecall:
      return "Recall";
    case MsgType::kRecallReply:
      return "RecallReply";
    case MsgType::kWriteBack:
      return "WriteBack";
    case MsgType::kWriteBackAck:
      return "WriteBackAck";
    case MsgType::kHandback:
      return "Handback";
    case MsgType::kLost:
      return "Lost";
    case MsgType::kHandbackAck:
      return "HandbackAck";
    case MsgType::kClaim:
      return "Claim";
    case MsgType::kClaimReply:
      return "ClaimReply";
  }
  return "Unknown";
}

std::string_view to_string(PageSource p) {
  switch (p) {
    case PageSource::kNone:
      return "none";
    case PageSource::kIncoming:
      return "incoming";
    case PageSource::kCache:
      return "cache";
    case PageSource::kHome:
      return "home";
    case PageSource::kZero:
      return "zero";
  }
  return "?";
}

std::string_view to_string(ActionType t) {
  switch (t) {
    case ActionType::kSend:
      return "send";
    case ActionType::kInstall:
      return "install";
    case ActionType::kWriteProtect:
      return "write-protect";
    case ActionType::kDrop:
      return "drop";
    case ActionType::kStore:
      return "store";
    case ActionType::kComplete:
      return "complete";
    case ActionType::kArmTimer:
      return "arm-timer";
    case ActionType::kFail:
      return "fail";
  }
  return "?";
}

ProtocolStats& operator+=(ProtocolStats& to, const ProtocolStats& more) {
  // A new counter must be added here too.
  static_assert(sizeof(ProtocolStats) == 2 * sizeof(ProtocolStats::sent) + 18 * sizeof(uint64_t));
  for (size_t i = 0; i < to.sent.size(); ++i) {
    to.sent[i] += more.sent[i];
    to.received[i] += more.received[i];
  }
  for (auto field :
       {&ProtocolStats::rejected, &ProtocolStats::stale, &ProtocolStats::faults,
        &ProtocolStats::coalesced, &ProtocolStats::retries, &ProtocolStats::invalidations,
        &ProtocolStats::evictions, &ProtocolStats::forwards, &ProtocolStats::queued,
        &ProtocolStats::claims, &ProtocolStats::homes_won, &ProtocolStats::claims_decided,
        &ProtocolStats::redirects, &ProtocolStats::nodes_down, &ProtocolStats::from_down,
        &ProtocolStats::lost_frames, &ProtocolStats::failed_faults, &ProtocolStats::acks_waived}) {
    to.*field += more.*field;
  }
  return to;
}

std::array<std::string_view, 2> protocol_names() { return {"msi-home", "ivy-dynamic"}; }

base::StatusOr<std::unique_ptr<Protocol>> make_protocol(std::string_view name,
                                                        const ProtocolConfig& config) {
  if (name != "msi-home" && name != "ivy-dynamic") {
    return base::Error(
        "unknown protocol \"" + std::string(name) + "\" (known: msi-home, ivy-dynamic)", EINVAL);
  }
  if (!config.placement) return base::Error("protocol: no placement", EINVAL);
  if (config.node_count == 0 || config.node_count > kMaxNodes) {
    return base::Error("protocol: " + std::to_string(config.node_count) + " nodes; between 1 and " +
                           std::to_string(kMaxNodes) + " supported",
                       EINVAL);
  }
  if (config.self >= config.node_count) {
    return base::Error("protocol: node " + std::to_string(config.self) + " is not one of " +
                           std::to_string(config.node_count),
                       EINVAL);
  }
  if (config.placement->node_count() != config.node_count) {
    return base::Error("protocol: placement covers " +
                           std::to_string(config.placement->node_count()) + " nodes, not " +
                           std::to_string(config.node_count),
                       EINVAL);
  }
  if (name == "msi-home") return std::unique_ptr<Protocol>(new MsiHome(config));
  return std::unique_ptr<Protocol>(new IvyDynamic(config));
}

}  // namespace dsm::protocol
