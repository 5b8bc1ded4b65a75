#include "rpc/bench_command.h"

#include <algorithm>
#include <cstring>

namespace rpc {

namespace {

void put32(std::byte* p, uint32_t v) { std::memcpy(p, &v, 4); }
void put64(std::byte* p, uint64_t v) { std::memcpy(p, &v, 8); }
uint32_t get32(const std::byte* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t get64(const std::byte* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

}  // namespace

base::StatusOr<CommandSeal> CommandSeal::Create(std::string_view secret) {
  if (sodium_init() < 0) return base::Error("libsodium failed to initialise", EIO);
  CommandSeal s;
  crypto_generichash(s.key_.data(), s.key_.size(),
                     reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), nullptr,
                     0);
  return s;
}

void CommandSeal::seal(const BenchCommand& c, std::byte* out) const {
  put32(out, kCommandMagic);
  put32(out + 4, c.op);
  put64(out + 8, c.seq);
  put64(out + 16, c.arg0);
  put64(out + 24, c.arg1);
  if (c.op == BenchCommand::kEcho) {
    std::memset(out + 32, 0, kCommandBytes - 32);
    return;
  }
  crypto_auth(reinterpret_cast<unsigned char*>(out + 32), reinterpret_cast<unsigned char*>(out), 32,
              key_.data());
}

base::StatusOr<BenchCommand> CommandSeal::open(const std::byte* in) const {
  if (get32(in) != kCommandMagic) return base::Error("not a bench command", EPROTO);
  const uint32_t op = get32(in + 4);
  if (op < BenchCommand::kEcho || op > BenchCommand::kHello) {
    return base::Error("unknown bench command", EPROTO);
  }
  if (op != BenchCommand::kEcho &&
      crypto_auth_verify(reinterpret_cast<const unsigned char*>(in + 32),
                         reinterpret_cast<const unsigned char*>(in), 32, key_.data()) != 0) {
    return base::Error("bench command not sealed with the cluster secret", EACCES);
  }
  BenchCommand c;
  c.op = static_cast<BenchCommand::Op>(op);
  c.seq = get64(in + 8);
  c.arg0 = get64(in + 16);
  c.arg1 = get64(in + 24);
  return c;
}

namespace {
constexpr size_t kTextBytes = kAnswerSeqOffset - 8;  // with its NUL
}  // namespace

void write_answer(std::byte* out, uint64_t seq, int error, std::string_view message) {
  std::memset(out, 0, kCommandBytes);
  put64(out, static_cast<uint64_t>(error));
  std::memcpy(out + 8, message.data(), std::min(message.size(), kTextBytes - 1));
  put_answer_seq(out, seq);
}

base::Status read_answer(const std::byte* in) {
  const uint64_t error = get64(in);
  if (error == 0) return {};
  char text[kTextBytes] = {};
  std::memcpy(text, in + 8, kTextBytes - 1);
  return base::Error(std::string("serving side: ") + text, static_cast<int>(error));
}

void put_answer_seq(std::byte* out, uint64_t seq) { put64(out + kAnswerSeqOffset, seq); }
uint64_t answer_seq(const std::byte* in) { return get64(in + kAnswerSeqOffset); }

}  // namespace rpc
