#pragma once
// Coherence messages on the wire: dsm::protocol::Message <-> the `coherence`
// member of the data-plane header (rpc/schema/dsm.capnp, rpc/PROTOCOL.md
// "DSM coherence"). The header's `frame` carries the frame; the page travels
// beside the header, so has_page is "the frame carried a page"; `from` is
// the sender the transport authenticated, never a field of the message.
// Every MsgType maps the same way, the first-touch Claim/ClaimReply
// included (their home/claimant travels in `requester`).

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "dsm/protocol/message.h"
#include "rpc/transport.h"

namespace dsm {

// Fills `out`'s header (frame, body.coherence) from `msg`.
void encode_coherence(const protocol::Message& msg, uint32_t region, rpc::OutMessage& out);

// Decodes a received coherence message addressed to `self`. Errors (EPROTO):
// another body, an unknown message type, a requester or sender outside the
// cluster, another region, a frame outside the region. Anything that parses
// is left to the protocol to judge.
base::StatusOr<protocol::Message> decode_coherence(const rpc::Incoming& in, protocol::NodeId self,
                                                   uint16_t node_count, uint32_t region,
                                                   uint64_t frames);

// A run (rpc/PROTOCOL.md "Runs"): several messages in one frame, each with
// its own frame number; either none carries a page or each carries one,
// element i's page being the frame's i-th page.
void encode_coherence_run(std::span<const protocol::Message> msgs, uint32_t region,
                          rpc::OutMessage& out);

// Decodes a received run. The whole frame is refused (an error, EPROTO)
// when its page count is neither 0 nor the element count, or the run is
// empty or longer than rpc::kMaxRunPages; otherwise each element is judged
// like decode_coherence, and `pages[i]` is element i's page (or null).
base::StatusOr<std::vector<base::StatusOr<protocol::Message>>> decode_coherence_run(
    const rpc::Incoming& in, protocol::NodeId self, uint16_t node_count, uint32_t region,
    uint64_t frames, std::vector<const std::byte*>* pages);

}  // namespace dsm
