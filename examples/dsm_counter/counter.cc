// dsm_counter: the DSM research API from an ordinary process
// (docs/dsm-research.md). Attaches the guest region of the local node and
// adds INCREMENTS to a counter under a spin lock, both in one frame of DSM
// memory; run one on each node and the counter ends exact.
//
//   dsm_counter NODE [INCREMENTS [FRAME [PROCESSES]]]
//
// NODE is the local node's control address as in cluster.toml
// ("127.0.0.1:7701" or "unix:/run/pangaea/n0.ctl"), or CONFIG:NAME
// ("cluster.toml:n0"). INCREMENTS defaults to 1000 (0 only reads the
// counter); FRAME, the frame holding the lock and the counter, to 100.
// With PROCESSES, each process waits at a barrier (in the same frame)
// until that many have arrived, so that they all count at once.

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "dsm/client/client.h"
#include "node/config.h"

namespace {

// Lives at the start of a frame of the region; all zero at first.
struct Shared {
  uint64_t lock;
  uint64_t counter;
  uint64_t arrived;  // at the barrier
};

void lock(uint64_t& word) {
  std::atomic_ref<uint64_t> l(word);
  for (;;) {
    // Spin reading: a Shared copy stays here until the holder's unlock
    // invalidates it, so waiting costs no page moves.
    while (l.load(std::memory_order_relaxed) != 0) std::this_thread::yield();
    uint64_t free = 0;
    if (l.compare_exchange_weak(free, 1, std::memory_order_acquire)) return;
  }
}

void unlock(uint64_t& word) { std::atomic_ref<uint64_t>(word).store(0, std::memory_order_release); }

// "host:port" and "unix:/path" as they are; CONFIG.toml:NAME looked up.
std::string control_address(const std::string& node) {
  const auto at = node.find(".toml:");
  if (at == std::string::npos) return node;
  auto config = node::load_config(node.substr(0, at + 5));
  if (!config.ok()) {
    std::fprintf(stderr, "dsm_counter: %s\n", config.error().message().c_str());
    std::exit(2);
  }
  const node::NodeConfig* n = config->find(node.substr(at + 6));
  if (!n) {
    std::fprintf(stderr, "dsm_counter: no node %s in %s\n", node.substr(at + 6).c_str(),
                 config->source.c_str());
    std::exit(2);
  }
  return n->control;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: dsm_counter NODE [INCREMENTS [FRAME [PROCESSES]]]\n");
    return 2;
  }
  const uint64_t increments = argc > 2 ? std::stoull(argv[2]) : 1000;
  const uint64_t frame = argc > 3 ? std::stoull(argv[3]) : 100;
  const uint64_t processes = argc > 4 ? std::stoull(argv[4]) : 1;

  // Map the whole guest region of the local node into this process.
  auto region = dsm::client::attach(control_address(argv[1]), "guest");
  if (!region.ok()) {
    std::fprintf(stderr, "dsm_counter: %s\n", region.error().message().c_str());
    return 1;
  }
  dsm::client::Region& r = **region;
  if (frame >= r.frames()) {
    std::fprintf(stderr, "dsm_counter: frame %lu is outside the region (%lu frames)\n",
                 static_cast<unsigned long>(frame), static_cast<unsigned long>(r.frames()));
    return 2;
  }
  auto* shared = reinterpret_cast<Shared*>(r.data() + frame * r.info().frame_size);

  // Plain loads and stores; the node's DSM keeps them coherent cluster-wide.
  lock(shared->lock);
  shared->arrived += 1;
  unlock(shared->lock);
  while (std::atomic_ref<uint64_t>(shared->arrived).load() < processes) std::this_thread::yield();

  for (uint64_t i = 0; i < increments; ++i) {
    lock(shared->lock);
    shared->counter += 1;
    unlock(shared->lock);
  }
  lock(shared->lock);
  const uint64_t seen = shared->counter;
  unlock(shared->lock);

  std::printf("counter %lu (added %lu on node %s, protocol %s)\n", static_cast<unsigned long>(seen),
              static_cast<unsigned long>(increments), r.info().node.c_str(),
              r.info().protocol.c_str());
  // The region's counters on this node, over the same connection.
  if (auto stats = r.stats(); stats.ok()) {
    std::printf(
        "node %s: read_misses %lu write_misses %lu write_upgrades %lu grants_received %lu\n",
        r.info().node.c_str(), static_cast<unsigned long>(stats->get("region", "read_misses")),
        static_cast<unsigned long>(stats->get("region", "write_misses")),
        static_cast<unsigned long>(stats->get("region", "write_upgrades")),
        static_cast<unsigned long>(stats->get("region", "grants_received")));
  }
  return 0;
}
