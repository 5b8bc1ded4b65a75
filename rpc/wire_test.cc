#include "rpc/wire.h"

#include <capnp/serialize.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

namespace rpc {
namespace {

TEST(Wire, HeaderRoundTrip) {
  OutMessage m;
  auto h = m.header();
  h.setType(schema::MessageType::REQUEST);
  h.setRequestId(42);
  h.setFrame(0x1234);
  h.setSender(2);
  h.setEpoch(7);
  h.setAuthTag(0xfeed);
  auto hb = h.initBody().initHeartbeat();
  hb.setMemoryGiven(1 << 30);
  hb.setMemoryUsed(4096);
  hb.setSendTimeNs(99);

  alignas(8) std::byte buf[kMaxFrameBytes];
  auto len = encode_head(m.builder(), std::span<std::byte>(buf, sizeof(buf)));
  ASSERT_TRUE(len.ok()) << len.error().message();
  EXPECT_EQ(*len % 8, 0u);

  auto view = parse_frame(buf, *len);
  ASSERT_TRUE(view.ok()) << view.error().message();
  EXPECT_EQ(view->page, nullptr);
  capnp::FlatArrayMessageReader reader(
      kj::ArrayPtr<const capnp::word>(view->header.data(), view->header.size()),
      header_reader_options());
  auto r = reader.getRoot<schema::Message>();
  EXPECT_EQ(r.getType(), schema::MessageType::REQUEST);
  EXPECT_EQ(r.getRequestId(), 42u);
  EXPECT_EQ(r.getFrame(), 0x1234u);
  EXPECT_EQ(r.getSender(), 2u);
  EXPECT_EQ(r.getEpoch(), 7u);
  EXPECT_EQ(r.getAuthTag(), 0xfeedu);
  ASSERT_EQ(r.getBody().which(), schema::Message::Body::HEARTBEAT);
  EXPECT_EQ(r.getBody().getHeartbeat().getMemoryUsed(), 4096u);
}

TEST(Wire, PageComesFirstAndPageAligned) {
  OutMessage m;
  m.header().initBody().setNone();
  alignas(4096) static std::byte frame[kMaxFrameBytes];
  for (size_t i = 0; i < base::kPageSize; ++i) frame[i] = std::byte(i * 7);
  auto len = encode_head(m.builder(), std::span<std::byte>(frame + base::kPageSize, kMaxHeadBytes));
  ASSERT_TRUE(len.ok());
  auto view = parse_frame(frame, base::kPageSize + *len);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->page, frame);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(view->page) % 4096, 0u);
}

TEST(Wire, OversizedHeaderIsRefused) {
  OutMessage m;
  std::vector<uint8_t> big(kMaxHeadBytes, 1);
  m.header().initBody().initEcho().setData(kj::arrayPtr(big.data(), big.size()));
  alignas(8) std::byte buf[2 * kMaxFrameBytes];
  auto len = encode_head(m.builder(), std::span<std::byte>(buf, sizeof(buf)));
  ASSERT_FALSE(len.ok());
  EXPECT_EQ(len.error().code(), EMSGSIZE);
}

TEST(Wire, BadFramingIsRejected) {
  alignas(8) std::byte buf[64] = {};
  EXPECT_FALSE(parse_frame(buf, 0).ok());
  EXPECT_FALSE(parse_frame(buf, 16).ok());  // no magic
  uint32_t trailer[2] = {24, kFrameMagic};  // claims 24 bytes of header in a 16-byte frame
  std::memcpy(buf + 8, trailer, 8);
  EXPECT_FALSE(parse_frame(buf, 16).ok());
  trailer[0] = 12;  // not whole words
  std::memcpy(buf + 8, trailer, 8);
  EXPECT_FALSE(parse_frame(buf, 16).ok());
}

// A run: several pages first, then the header; its page count comes from
// the length. A length between whole pages, or more pages than a run may
// carry, is malformed.
TEST(Wire, RunOfPagesParses) {
  OutMessage m;
  m.header().setFrame(3);
  alignas(4096) static std::byte frame[kMaxFrameBytes + base::kPageSize];
  const size_t pages = 5;
  for (size_t i = 0; i < pages; ++i) std::memset(frame + i * 4096, static_cast<int>(i + 1), 4096);
  auto head = encode_head(m.builder(), std::span<std::byte>(frame + pages * 4096, kMaxHeadBytes));
  ASSERT_TRUE(head.ok());
  auto view = parse_frame(frame, pages * 4096 + *head);
  ASSERT_TRUE(view.ok()) << view.error().message();
  EXPECT_EQ(view->page, frame);
  EXPECT_EQ(view->page_count, pages);
  EXPECT_EQ(view->page[4 * 4096], std::byte{5});
  EXPECT_FALSE(parse_frame(frame, pages * 4096 + 8 + *head).ok());  // not whole pages
  // kMaxRunPages + 1 pages: the header moved one page further.
  const size_t too_many = kMaxRunPages + 1;
  if (too_many * 4096 + *head <= sizeof(frame)) {
    std::memmove(frame + too_many * 4096, frame + pages * 4096, *head);
    EXPECT_FALSE(parse_frame(frame, too_many * 4096 + *head).ok());
  }
}

// Random bytes behind a valid trailer must give an exception we can catch
// (the transport counts it), never a crash or an endless walk.
TEST(Wire, GarbageHeaderThrowsCatchably) {
  std::mt19937_64 rng(5);
  int rejected = 0;
  for (int round = 0; round < 500; ++round) {
    alignas(8) std::byte buf[136];
    for (size_t i = 0; i < 128; i += 8) {
      uint64_t v = rng();
      std::memcpy(buf + i, &v, 8);
    }
    uint32_t trailer[2] = {128, kFrameMagic};
    std::memcpy(buf + 128, trailer, 8);
    auto view = parse_frame(buf, sizeof(buf));
    ASSERT_TRUE(view.ok());
    try {
      capnp::FlatArrayMessageReader reader(
          kj::ArrayPtr<const capnp::word>(view->header.data(), view->header.size()),
          header_reader_options());
      (void)reader.getRoot<schema::Message>().totalSize();
    } catch (const kj::Exception&) {
      rejected++;
    }
  }
  EXPECT_GT(rejected, 0);
}

}  // namespace
}  // namespace rpc
