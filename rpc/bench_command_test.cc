// The benchmarks' command format (rpc/bench_command.h): commands open only
// with the secret they were sealed with, and unchanged.

#include "rpc/bench_command.h"

#include <gtest/gtest.h>

#include <array>
#include <cstddef>

namespace rpc {
namespace {

// A command sealed with `seal`.
std::array<std::byte, kCommandBytes> sealed(const CommandSeal& seal, const BenchCommand& c) {
  std::array<std::byte, kCommandBytes> buf{};
  seal.seal(c, buf.data());
  return buf;
}

TEST(BenchCommand, SealedCommandOpensUnchanged) {
  auto seal = CommandSeal::Create("s3cret");
  ASSERT_TRUE(seal.ok());
  const auto buf = sealed(*seal, {BenchCommand::kRegion, 7, 262144, (uint64_t{1} << 32) | 2});
  auto c = seal->open(buf.data());
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->op, BenchCommand::kRegion);
  EXPECT_EQ(c->seq, 7u);
  EXPECT_EQ(c->arg0, 262144u);
  EXPECT_EQ(c->arg1, (uint64_t{1} << 32) | 2);
}

TEST(BenchCommand, OtherSecretChangedByteOrGarbageIsRefused) {
  auto seal = CommandSeal::Create("s3cret");
  auto other = CommandSeal::Create("another");
  ASSERT_TRUE(seal.ok() && other.ok());
  const auto buf = sealed(*seal, {BenchCommand::kStop, 1, 0, 0});
  EXPECT_EQ(other->open(buf.data()).error().code(), EACCES);
  for (size_t i : {4u, 8u, 16u, 31u, 40u}) {
    auto changed = buf;
    changed[i] ^= std::byte{1};
    EXPECT_FALSE(seal->open(changed.data()).ok()) << "byte " << i;
  }
  std::array<std::byte, kCommandBytes> garbage;
  garbage.fill(std::byte{0x5a});
  EXPECT_EQ(seal->open(garbage.data()).error().code(), EPROTO);
}

TEST(BenchCommand, EchoesCarryTheSessionTokenNotAMac) {
  auto seal = CommandSeal::Create("s3cret");
  auto other = CommandSeal::Create("another");
  ASSERT_TRUE(seal.ok() && other.ok());
  auto buf = sealed(*seal, {BenchCommand::kEcho, 9, 4096, 0x1234});
  for (size_t i = 32; i < kCommandBytes; ++i) EXPECT_EQ(buf[i], std::byte{0}) << i;
  // No MAC to check: node 1 checks the token against its session instead.
  auto c = other->open(buf.data());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->arg1, 0x1234u);
  // Every other command needs the MAC: an echo's bytes relabelled are refused.
  buf[4] = std::byte{BenchCommand::kHello};
  EXPECT_EQ(seal->open(buf.data()).error().code(), EACCES);
}

TEST(BenchCommand, AnswersCarryErrorMessageAndSeq) {
  std::array<std::byte, kCommandBytes> buf{};
  write_answer(buf.data(), 42, 0, "");
  EXPECT_TRUE(read_answer(buf.data()).ok());
  EXPECT_EQ(answer_seq(buf.data()), 42u);
  write_answer(buf.data(), 43, EINVAL,
               "region too large, and a message longer than the answer has room for");
  auto st = read_answer(buf.data());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), EINVAL);
  EXPECT_EQ(st.error().message().rfind("serving side: region too large", 0), 0u)
      << st.error().message();
  EXPECT_EQ(answer_seq(buf.data()), 43u);  // the message did not run over the seq
}

}  // namespace
}  // namespace rpc
