#pragma once
// How the measuring side of a two-host benchmark (`pangaea bench fault`,
// `pangaea bench rtt` with --role measure) drives the serving side (--role
// serve) on the other host: commands over the pair of bare endpoints that
// also carries the baselines' ping-pong (rpc/bench_link.h runs both ends).
//
// A command is one 64-byte message (little-endian):
//   0  u32  magic 0x42464750 ("PGFB")
//   4  u32  op: 1 echo, 2 region, 3 stop, 4 hello
//   8  u64  seq: 1, 2, 3, ...; the serving side takes only a seq above the
//           last it took, but for a hello (a new measuring side starts at 1)
//   16 u64  arg0: echo: bytes of the answer; region (bench fault): frames
//           (0: none); hello: the session token
//   24 u64  arg1: echo: the session token; region: region id (bits 0-31),
//           protocol (bits 32-39, index in protocol::protocol_names())
//   32 32 B HMAC-SHA-512-256 (libsodium crypto_auth) of bytes 0-31, keyed
//           by the BLAKE2b-256 hash of the cluster secret; zero in an echo
// Hello, region and stop must carry the MAC. An echo (the baselines'
// ping-pong request) carries instead the random token of the session that
// the last hello opened: checking a MAC there would add ~1 us of HMAC to
// every bare round trip the benchmark compares against. So a peer that
// sees the traffic can make the serving side echo during that session,
// nothing more. An echo request may be longer than 64 bytes (bench rtt sends
// its size each way); the bytes past the command are not looked at.
// Answers: echo: arg0 bytes (the ping-pong's reply); hello, region and
// stop: 64 bytes, u64 0 or the errno of a failure, then a NUL-terminated
// message. Every answer carries the command's seq as u64 at offset 56, so
// an answer that arrives after its command timed out is told apart and
// dropped. A command that fails a check is counted and not answered: the
// measuring side times out and says so.

#include <sodium.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace rpc {

inline constexpr size_t kCommandBytes = 64;
inline constexpr uint32_t kCommandMagic = 0x42464750;

struct BenchCommand {
  enum Op : uint32_t { kEcho = 1, kRegion = 2, kStop = 3, kHello = 4 };
  Op op = kEcho;
  uint64_t seq = 0;
  uint64_t arg0 = 0;
  uint64_t arg1 = 0;
};

class CommandSeal {
 public:
  static base::StatusOr<CommandSeal> Create(std::string_view secret);
  // With the MAC (an echo without: see above).
  void seal(const BenchCommand& c, std::byte* out) const;
  // Checks the magic, the op and, but for an echo, the MAC; not the seq nor
  // an echo's token (the caller's state).
  base::StatusOr<BenchCommand> open(const std::byte* in) const;

 private:
  std::array<uint8_t, crypto_auth_KEYBYTES> key_{};
};

inline constexpr size_t kAnswerSeqOffset = 56;
// The answer to a region or stop command (`seq` at kAnswerSeqOffset).
void write_answer(std::byte* out, uint64_t seq, int error, std::string_view message);
base::Status read_answer(const std::byte* in);
void put_answer_seq(std::byte* out, uint64_t seq);
uint64_t answer_seq(const std::byte* in);

}  // namespace rpc
