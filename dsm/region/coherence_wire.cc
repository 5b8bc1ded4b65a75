#include "dsm/region/coherence_wire.h"

#include <string>

namespace dsm {

void encode_coherence(const protocol::Message& msg, uint32_t region, rpc::OutMessage& out) {
  auto h = out.header();
  h.setFrame(msg.frame);
  auto c = h.initBody().initCoherence();
  c.setMsgType(static_cast<uint8_t>(msg.type));
  c.setRequester(msg.requester);
  c.setVersion(msg.version);
  c.setReq(msg.req);
  c.setCopyset(msg.copyset);
  c.setHasCopy(msg.has_copy);
  c.setRegion(region);
}

base::StatusOr<protocol::Message> decode_coherence(const rpc::Incoming& in, protocol::NodeId self,
                                                   uint16_t node_count, uint32_t region,
                                                   uint64_t frames) {
  auto bad = [](const std::string& why) {
    return base::Error("coherence message: " + why, EPROTO);
  };
  if (in.header.getBody().which() != rpc::BodyKind::COHERENCE) return bad("not a coherence body");
  if (in.from < 0 || in.from >= node_count || in.from == self) return bad("sender outside cluster");
  auto c = in.header.getBody().getCoherence();
  if (c.getRegion() != region) return bad("region " + std::to_string(c.getRegion()) + " unknown");
  const uint8_t type = c.getMsgType();
  if (type < 1 || type > protocol::kMaxMsgType) return bad("type " + std::to_string(type));
  const uint16_t requester = c.getRequester();
  if (requester != protocol::kNoNode && requester >= node_count) return bad("requester unknown");
  const uint64_t frame = in.header.getFrame();
  if (frame >= frames) return bad("frame " + std::to_string(frame) + " outside the region");
  protocol::Message m;
  m.type = static_cast<protocol::MsgType>(type);
  m.has_page = in.page != nullptr;
  m.has_copy = c.getHasCopy();
  m.from = static_cast<protocol::NodeId>(in.from);
  m.to = self;
  m.requester = requester;
  m.version = c.getVersion();
  m.frame = frame;
  m.req = c.getReq();
  m.copyset = c.getCopyset();
  return m;
}

}  // namespace dsm
