// Node 1's side of `pangaea bench fault`: the echo end of the bare
// ping-pong, and node 1's Region, which homes every frame the measuring
// side faults on. Driven by commands (rpc/bench_command.h, served by
// rpc/bench_link.h); in a thread of the measuring process (--role both) or
// alone on node 1's host (--role serve).

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/unique_fd.h"
#include "dsm/protocol/protocol.h"
#include "dsm/region/fault_bench.h"
#include "dsm/region/region.h"
#include "rpc/bare_end.h"
#include "rpc/bench_link.h"
#include "rpc/fabric_transport.h"

namespace dsm {

namespace {

constexpr uint64_t kPage = base::kPageSize;

// Node 1's home copies: a memfd filled with data before anything is timed,
// as a node's page store holds the memory it serves. (Left sparse, each
// first read of a home page would allocate and clear a page on the
// answering thread, a cost the bare baselines do not pay.) Frame f's bytes
// are all (f & 0xff): the scan checks them.
base::StatusOr<base::UniqueFd> filled_home(uint64_t frames) {
  base::UniqueFd fd(::memfd_create("bench-home", MFD_CLOEXEC));
  if (!fd.valid() || ::ftruncate(fd.get(), static_cast<off_t>(frames * kPage)) != 0) {
    return base::Error::from_errno("home memfd");
  }
  constexpr uint64_t kChunk = 256;
  std::vector<std::byte> chunk(kChunk * kPage);
  for (uint64_t f = 0; f < frames; f += kChunk) {
    const uint64_t n = std::min(kChunk, frames - f);
    for (uint64_t i = 0; i < n; ++i) {
      std::memset(chunk.data() + i * kPage, static_cast<int>((f + i) & 0xff), kPage);
    }
    if (::pwrite(fd.get(), chunk.data(), n * kPage, static_cast<off_t>(f * kPage)) !=
        static_cast<ssize_t>(n * kPage)) {
      return base::Error::from_errno("fill home memfd");
    }
  }
  return fd;
}

struct NodeOne {
  std::unique_ptr<rpc::Transport> transport;
  base::UniqueFd home;
  std::unique_ptr<Region> region;

  base::Status make_region(uint64_t frames, uint64_t arg1) {
    region.reset();
    home.reset();
    if (frames == 0) return {};
    if (frames > kMaxBenchFrames) return base::Error("region too large", EINVAL);
    const auto names = protocol::protocol_names();
    const size_t protocol = (arg1 >> 32) & 0xff;
    if (protocol >= names.size()) return base::Error("unknown protocol", EINVAL);
    home = TRY(filled_home(frames));
    RegionConfig c;
    c.self = 1;
    c.node_count = 2;
    c.frames = frames;
    c.region_id = static_cast<uint32_t>(arg1);
    c.placement = "range";
    c.weights = {0, 1};
    c.protocol = std::string(names[protocol]);
    c.home_fd = home.get();
    region = TRY(Region::Create(c, *transport));
    return {};
  }
};

}  // namespace

base::Status serve_fault_bench(const FaultBenchOptions& o, const std::atomic<bool>* cancel,
                               const std::function<void()>& ready) {
  const size_t bytes = std::max<size_t>(o.raw_reply_bytes, kPage);
  auto bare = TRY(rpc::OwnedBareEnd::Create(o.provider, o.bare_a, o.bare_b, 1, bytes));
  NodeOne one;
  one.transport =
      TRY(rpc::FabricTransport::Create(o.provider, {"n0", "n1"}, {o.a, o.b}, 1, o.secret));
  const rpc::CommandSeal seal = TRY(rpc::CommandSeal::Create(o.secret));
  rpc::BenchServeHooks hooks;
  hooks.ready = ready;
  hooks.command = [&one](const rpc::BenchCommand& c) -> base::Status {
    if (c.op != rpc::BenchCommand::kRegion) return base::Error("not a fault bench command", EPROTO);
    return one.make_region(c.arg0, c.arg1);
  };
  hooks.stopping = [&one] { one.region.reset(); };
  return rpc::serve_bench(bare->end(), seal, o.serve_idle, cancel, hooks);
}

}  // namespace dsm
