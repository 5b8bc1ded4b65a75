#include "dsm/region/coherence_wire.h"

#include <string>

#include "base/bytes.h"

namespace dsm {

namespace {

base::Error bad(const std::string& why) { return base::Error("coherence message: " + why, EPROTO); }

void fill(const protocol::Message& msg, uint32_t region, rpc::schema::Coherence::Builder c) {
  c.setMsgType(static_cast<uint8_t>(msg.type));
  c.setRequester(msg.requester);
  c.setVersion(msg.version);
  c.setReq(msg.req);
  c.setCopyset(msg.copyset);
  c.setHasCopy(msg.has_copy);
  c.setRegion(region);
}

base::StatusOr<protocol::Message> decode_one(rpc::schema::Coherence::Reader c, uint64_t frame,
                                             bool has_page, rpc::NodeId from, protocol::NodeId self,
                                             uint16_t node_count, uint32_t region,
                                             uint64_t frames) {
  if (c.getRegion() != region) return bad("region " + std::to_string(c.getRegion()) + " unknown");
  const uint8_t type = c.getMsgType();
  if (type < 1 || type > protocol::kMaxMsgType) return bad("type " + std::to_string(type));
  const uint16_t requester = c.getRequester();
  if (requester != protocol::kNoNode && requester >= node_count) return bad("requester unknown");
  if (frame >= frames) return bad("frame " + std::to_string(frame) + " outside the region");
  protocol::Message m;
  m.type = static_cast<protocol::MsgType>(type);
  m.has_page = has_page;
  m.has_copy = c.getHasCopy();
  m.from = static_cast<protocol::NodeId>(from);
  m.to = self;
  m.requester = requester;
  m.version = c.getVersion();
  m.frame = frame;
  m.req = c.getReq();
  m.copyset = c.getCopyset();
  return m;
}

}  // namespace

void encode_coherence(const protocol::Message& msg, uint32_t region, rpc::OutMessage& out) {
  auto h = out.header();
  h.setFrame(msg.frame);
  fill(msg, region, h.initBody().initCoherence());
}

void encode_coherence_run(std::span<const protocol::Message> msgs, uint32_t region,
                          rpc::OutMessage& out) {
  auto h = out.header();
  h.setFrame(msgs.empty() ? 0 : msgs.front().frame);
  auto list = h.initBody().initCoherenceRun(static_cast<unsigned>(msgs.size()));
  for (size_t i = 0; i < msgs.size(); ++i) {
    fill(msgs[i], region, list[static_cast<unsigned>(i)]);
    list[static_cast<unsigned>(i)].setFrame(msgs[i].frame);
  }
}

base::StatusOr<protocol::Message> decode_coherence(const rpc::Incoming& in, protocol::NodeId self,
                                                   uint16_t node_count, uint32_t region,
                                                   uint64_t frames) {
  if (in.header.getBody().which() != rpc::BodyKind::COHERENCE) return bad("not a coherence body");
  if (in.from < 0 || in.from >= node_count || in.from == self) return bad("sender outside cluster");
  if (in.page_count > 1) return bad("a single message with several pages");
  return decode_one(in.header.getBody().getCoherence(), in.header.getFrame(), in.page != nullptr,
                    in.from, self, node_count, region, frames);
}

base::StatusOr<std::vector<base::StatusOr<protocol::Message>>> decode_coherence_run(
    const rpc::Incoming& in, protocol::NodeId self, uint16_t node_count, uint32_t region,
    uint64_t frames, std::vector<const std::byte*>* pages) {
  if (in.header.getBody().which() != rpc::BodyKind::COHERENCE_RUN) return bad("not a run");
  if (in.from < 0 || in.from >= node_count || in.from == self) return bad("sender outside cluster");
  auto list = in.header.getBody().getCoherenceRun();
  const size_t n = list.size();
  if (n == 0 || n > rpc::kMaxRunPages) return bad("run of " + std::to_string(n) + " messages");
  const size_t page_count = in.page == nullptr ? 0 : in.page_count;
  if (page_count != 0 && page_count != n) {
    return bad(std::to_string(page_count) + " pages for a run of " + std::to_string(n));
  }
  std::vector<base::StatusOr<protocol::Message>> out;
  out.reserve(n);
  pages->assign(n, nullptr);
  for (size_t i = 0; i < n; ++i) {
    auto c = list[static_cast<unsigned>(i)];
    out.push_back(
        decode_one(c, c.getFrame(), page_count != 0, in.from, self, node_count, region, frames));
    if (page_count != 0) (*pages)[i] = in.page + i * base::kPageSize;
  }
  return out;
}

}  // namespace dsm
