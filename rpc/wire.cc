#include "rpc/wire.h"

#include <capnp/serialize.h>
#include <kj/io.h>

#include <cstring>

namespace rpc {

base::StatusOr<size_t> encode_head(capnp::MessageBuilder& message, std::span<std::byte> out) {
  size_t words = capnp::computeSerializedSizeInWords(message);
  size_t header_bytes = words * sizeof(capnp::word);
  if (header_bytes + kTrailerBytes > out.size() || header_bytes + kTrailerBytes > kMaxHeadBytes) {
    return base::Error(
        "message header of " + std::to_string(header_bytes) + " bytes exceeds the frame limit",
        EMSGSIZE);
  }
  kj::ArrayOutputStream stream(kj::arrayPtr(reinterpret_cast<kj::byte*>(out.data()), header_bytes));
  capnp::writeMessage(stream, message);
  uint32_t trailer[2] = {static_cast<uint32_t>(header_bytes), kFrameMagic};
  std::memcpy(out.data() + header_bytes, trailer, sizeof(trailer));
  return header_bytes + kTrailerBytes;
}

base::StatusOr<FrameView> parse_frame(const std::byte* data, size_t len) {
  if (len < kTrailerBytes + sizeof(capnp::word) || len > kMaxFrameBytes) {
    return base::Error("frame of " + std::to_string(len) + " bytes has no valid size", EBADMSG);
  }
  uint32_t trailer[2];
  std::memcpy(trailer, data + len - kTrailerBytes, sizeof(trailer));
  if (trailer[1] != kFrameMagic) return base::Error("frame has a bad magic number", EBADMSG);
  size_t header_bytes = trailer[0];
  if (header_bytes == 0 || header_bytes % sizeof(capnp::word) != 0) {
    return base::Error("frame header length is not a whole number of words", EBADMSG);
  }
  FrameView view;
  size_t rest = len - kTrailerBytes;
  if (rest < header_bytes || (rest - header_bytes) % base::kPageSize != 0 ||
      (rest - header_bytes) / base::kPageSize > kMaxRunPages) {
    return base::Error("frame length does not match its header length", EBADMSG);
  }
  view.page_count = (rest - header_bytes) / base::kPageSize;
  if (view.page_count != 0) {
    view.page = data;
    data += view.page_count * base::kPageSize;
  }
  view.header = std::span<const capnp::word>(reinterpret_cast<const capnp::word*>(data),
                                             header_bytes / sizeof(capnp::word));
  return view;
}

capnp::ReaderOptions header_reader_options() {
  capnp::ReaderOptions options;
  // A header is at most kMaxHeadBytes; allow the receiver to read it several
  // times over, but not the amplification a hostile pointer graph could give.
  options.traversalLimitInWords = 16 * kMaxHeadBytes / sizeof(capnp::word);
  options.nestingLimit = 16;
  return options;
}

}  // namespace rpc
