#pragma once
// Coherence messages on the wire: dsm::protocol::Message <-> the `coherence`
// member of the data-plane header (rpc/schema/dsm.capnp, rpc/PROTOCOL.md
// "DSM coherence"). The header's `frame` carries the frame; the page travels
// beside the header, so has_page is "the frame carried a page"; `from` is
// the sender the transport authenticated, never a field of the message.

#include <cstdint>

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

}  // namespace dsm
