#pragma once
// Helpers for the protocol unit tests: build instances over a fixed
// placement and pick actions out of what a call returned.

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dsm/protocol/protocol.h"

namespace dsm::protocol::testing {

// Every frame's home is `home`.
class FixedPlacement final : public Placement {
 public:
  FixedPlacement(NodeId home, uint16_t nodes) : home_(home), nodes_(nodes) {}
  std::string_view name() const override { return "fixed"; }
  NodeId home_of(FrameId) const override { return home_; }
  uint16_t node_count() const override { return nodes_; }

 private:
  NodeId home_;
  uint16_t nodes_;
};

inline std::unique_ptr<Protocol> make(std::string_view protocol, NodeId self, uint16_t nodes = 4,
                                      NodeId home = 0, uint64_t frames = 4) {
  ProtocolConfig cfg;
  cfg.self = self;
  cfg.node_count = nodes;
  cfg.frame_count = frames;
  cfg.placement = std::make_shared<FixedPlacement>(home, nodes);
  auto p = make_protocol(protocol, cfg);
  EXPECT_TRUE(p.ok());
  return std::move(p).value();
}

inline std::vector<Message> sent(const Actions& acts) {
  std::vector<Message> out;
  for (const Action& a : acts) {
    if (a.type == ActionType::kSend) out.push_back(a.msg);
  }
  return out;
}

// The only message sent; fails the test if there is not exactly one.
inline Message only_sent(const Actions& acts) {
  std::vector<Message> s = sent(acts);
  EXPECT_EQ(s.size(), 1u);
  return s.empty() ? Message{} : s[0];
}

inline std::optional<Action> find(const Actions& acts, ActionType type) {
  for (const Action& a : acts) {
    if (a.type == type) return a;
  }
  return std::nullopt;
}

inline size_t count(const Actions& acts, ActionType type) {
  size_t n = 0;
  for (const Action& a : acts) n += a.type == type;
  return n;
}

inline PageSource page_of_send(const Actions& acts, MsgType type) {
  for (const Action& a : acts) {
    if (a.type == ActionType::kSend && a.msg.type == type) return a.page;
  }
  return PageSource::kNone;
}

// A message from `from` to `to` about frame `f`.
inline Message msg(MsgType type, NodeId from, NodeId to, FrameId f, Version v = 0,
                   RequestId req = 0) {
  Message m;
  m.type = type;
  m.from = from;
  m.to = to;
  m.frame = f;
  m.version = v;
  m.req = req;
  return m;
}

inline Message request(MsgType type, NodeId from, NodeId to, FrameId f, RequestId req,
                       Version have = 0, bool has_copy = false) {
  Message m = msg(type, from, to, f, have, req);
  m.requester = from;
  m.has_copy = has_copy;
  return m;
}

// Hands `m` to `p`; expects it accepted.
inline Actions deliver(Protocol& p, Message m, bool page = false) {
  m.has_page = m.has_page || page;
  Actions out;
  base::Status st = p.on_message(m, &out);
  EXPECT_TRUE(st.ok()) << st.error().message();
  return out;
}

inline Actions fault(Protocol& p, FrameId f, Access a) {
  Actions out;
  p.on_fault(f, a, &out);
  return out;
}

// Test names for suites parameterized by protocol name: "MsiHome", "IvyDynamic".
inline std::string protocol_test_name(const ::testing::TestParamInfo<std::string>& info) {
  return info.param == "msi-home" ? "MsiHome" : "IvyDynamic";
}

inline Actions timeout(Protocol& p, FrameId f) {
  Actions out;
  p.on_timeout(f, &out);
  return out;
}

}  // namespace dsm::protocol::testing
