// Micro-benchmarks of the data-plane header: encode, decode (with the full
// validation walk the transport does), and the handshake's HMAC.

#include <benchmark/benchmark.h>
#include <capnp/serialize.h>

#include "rpc/auth.h"
#include "rpc/wire.h"

namespace {

void fill_request(rpc::OutMessage& m) {
  auto h = m.header();
  h.setType(rpc::schema::MessageType::REQUEST);
  h.setRequestId(123456);
  h.setFrame(0xabcdef);
  h.setSender(3);
  h.setEpoch(0x1122334455667788ull);
  h.setAuthTag(0x99aabbccddeeff00ull);
  auto hb = h.initBody().initHeartbeat();
  hb.setMemoryGiven(8ull << 30);
  hb.setMemoryUsed(1ull << 30);
  hb.setSendTimeNs(42);
}

void BM_EncodeHeader(benchmark::State& state) {
  alignas(8) std::byte buf[rpc::kMaxHeadBytes];
  for (auto _ : state) {
    rpc::OutMessage m;
    fill_request(m);
    auto len = rpc::encode_head(m.builder(), buf);
    benchmark::DoNotOptimize(len);
  }
}
BENCHMARK(BM_EncodeHeader);

void BM_DecodeHeader(benchmark::State& state) {
  alignas(8) std::byte buf[rpc::kMaxHeadBytes];
  rpc::OutMessage m;
  fill_request(m);
  size_t len = rpc::encode_head(m.builder(), buf).value();
  for (auto _ : state) {
    auto view = rpc::parse_frame(buf, len);
    capnp::FlatArrayMessageReader reader(
        kj::ArrayPtr<const capnp::word>(view->header.data(), view->header.size()),
        rpc::header_reader_options());
    auto h = reader.getRoot<rpc::schema::Message>();
    benchmark::DoNotOptimize(h.totalSize());
    benchmark::DoNotOptimize(h.getBody().getHeartbeat().getMemoryUsed());
  }
  state.SetLabel(std::to_string(len) + " bytes on the wire");
}
BENCHMARK(BM_DecodeHeader);

void BM_CopyForRetry(benchmark::State& state) {
  rpc::OutMessage m;
  fill_request(m);
  for (auto _ : state) benchmark::DoNotOptimize(capnp::messageToFlatArray(m.builder()));
}
BENCHMARK(BM_CopyForRetry);

void BM_HandshakeProof(benchmark::State& state) {
  auto keys = rpc::auth::Keys::Create("bench secret").value();
  auto a = rpc::auth::fresh_nonce(), b = rpc::auth::fresh_nonce();
  for (auto _ : state) benchmark::DoNotOptimize(keys.responder_proof("n1", "n0", a, b));
}
BENCHMARK(BM_HandshakeProof);

}  // namespace

BENCHMARK_MAIN();
