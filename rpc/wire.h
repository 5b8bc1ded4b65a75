#pragma once
// The data-plane frame (rpc/PROTOCOL.md): [page?][Cap'n Proto header][trailer].
// The page comes first so that it lands page-aligned at the start of a
// page-aligned receive buffer, ready for UFFDIO_COPY without another copy.
// The trailer (last 8 bytes) says how long the header is; the frame's total
// length says whether a page is present.

#include <capnp/message.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "base/bytes.h"
#include "base/result.h"
#include "rpc/schema/dsm.capnp.h"

namespace rpc {

inline constexpr uint32_t kFrameMagic = 0x31414750;  // "PGA1" little-endian
inline constexpr size_t kTrailerBytes = 8;
// Header plus trailer must fit here; the header alone is far smaller in
// practice (about 100 bytes), this bounds Echo payloads and the DSM's blobs.
inline constexpr size_t kMaxHeadBytes = 4096;
// A frame carries 0, 1 or (a run: Transport::send_pages) up to kMaxRunPages
// pages, so that a stream of pages (the DSM's read-ahead) moves many pages
// per message instead of paying a message per 4 KiB. 64 pages (256 KiB, the
// bare bandwidth baseline's reply size): a 1 GiB remote scan took 0.3-0.4 of
// the bare bandwidth with 16-page runs, about 0.5 with 64 (docs/PERFORMANCE.md).
inline constexpr size_t kMaxRunPages = 64;
// A frame of at most one page: what most messages are (send slots).
inline constexpr size_t kMaxPageFrameBytes = base::kPageSize + kMaxHeadBytes;
// A receive buffer holds the largest frame: a full run plus the largest head.
inline constexpr size_t kMaxFrameBytes = kMaxRunPages * base::kPageSize + kMaxHeadBytes;

// A message being built. The first 1 KiB of the header lives inline, so the
// usual header costs no allocation.
class OutMessage {
 public:
  OutMessage() : builder_(kj::arrayPtr(scratch_, kScratchWords)) {
    header_ = builder_.initRoot<schema::Message>();
  }
  OutMessage(const OutMessage&) = delete;
  OutMessage& operator=(const OutMessage&) = delete;

  schema::Message::Builder header() { return header_; }
  capnp::MessageBuilder& builder() { return builder_; }

 private:
  static constexpr size_t kScratchWords = 128;
  capnp::word scratch_[kScratchWords] = {};
  capnp::MallocMessageBuilder builder_;
  schema::Message::Builder header_{nullptr};
};

// Writes the flat-array header and the trailer into `out`; returns the
// number of bytes written (a multiple of 8), or an error if they do not fit.
base::StatusOr<size_t> encode_head(capnp::MessageBuilder& message, std::span<std::byte> out);

// Where the parts of a received frame are. Checks only the framing.
struct FrameView {
  std::span<const capnp::word> header;
  const std::byte* page = nullptr;  // page_count * base::kPageSize bytes, or null
  size_t page_count = 0;
};
// REQUIRES: `data` is 8-byte aligned.
base::StatusOr<FrameView> parse_frame(const std::byte* data, size_t len);

// Reader limits for untrusted headers.
capnp::ReaderOptions header_reader_options();

}  // namespace rpc
