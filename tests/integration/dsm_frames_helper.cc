// dsm_frames_helper: a test-only process that joins a cluster as one of the
// nodes named in cluster.toml with nothing but the guest-memory dsm::Region
// (the same RegionConfig `pangaea node` derives, region_config_from, over
// the same authenticated FabricTransport), and writes or reads its frames.
//
// Why a helper and not a `pangaea` subcommand or dsm/client: a real node's
// Region is only reachable through the guest kernel or the client attach
// API; a helper that *is* a node (without membership or a control plane,
// which the Region does not need) reaches the frames through the coherence
// protocol exactly like a node's own faults, keeps the CLI free of debug
// commands, and depends on nothing under construction. The nodes homing the
// frames are real `pangaea node` processes.
//
//   dsm_frames_helper CONFIG NAME write SEED HOMES  write every frame homed on
//                                                  one of HOMES (comma-separated
//                                                  node names), print "written N",
//                                                  serve until killed
//   dsm_frames_helper CONFIG NAME read SEED HOMES   read and check them, print
//                                                  "read N", serve until killed
//   dsm_frames_helper CONFIG NAME check SEED HOMES  read and check them, print
//                                                  "checked N", exit 0
// Only frames homed on running members can be touched: a request to a home
// that is not up is retried forever. A mismatch prints
// "mismatch frame F word W: got X want Y" and exits 1.

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/log.h"
#include "dsm/protocol/placement.h"
#include "dsm/region/region.h"
#include "node/config.h"
#include "rpc/fabric_transport.h"

namespace {

constexpr uint64_t kWords = base::kPageSize / sizeof(uint32_t);

uint32_t pattern(uint64_t seed, uint64_t frame, uint64_t word) {
  return static_cast<uint32_t>(seed * 1000003 + frame * 4099 + word * 7 + 1);
}

int fail(const std::string& what) {
  std::fprintf(stdout, "error %s\n", what.c_str());
  std::fflush(stdout);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) return fail("usage: CONFIG NAME write|read|check SEED HOMES");
  // Logs on stderr, warnings up: stdout carries the answers.
  if (!base::setup_logging("warn").ok()) return fail("logging");
  const std::string cmd = argv[3];
  const uint64_t seed = std::strtoull(argv[4], nullptr, 10);
  auto config = node::load_config(argv[1]);
  if (!config.ok()) return fail(config.error().message());
  int self = -1;
  std::vector<bool> homes(config->nodes.size(), false);
  const std::string list = "," + std::string(argv[5]) + ",";
  for (size_t i = 0; i < config->nodes.size(); ++i) {
    if (config->nodes[i].name == argv[2]) self = static_cast<int>(i);
    if (list.find("," + config->nodes[i].name + ",") != std::string::npos) homes[i] = true;
  }
  if (self < 0) return fail("no such node");
  auto transport = rpc::FabricTransport::Create(*config, self);
  if (!transport.ok()) return fail(transport.error().message());
  // As node/daemon.cc makes it.
  const uint64_t frames = config->guest.memory / base::kPageSize;
  dsm::RegionConfig rc = dsm::region_config_from(*config, self, frames);
  auto region = dsm::Region::Create(rc, **transport);
  if (!region.ok()) return fail(region.error().message());
  auto placement = dsm::protocol::make_placement(rc.placement, rc.weights, frames);
  if (!placement.ok()) return fail(placement.error().message());

  auto* words = reinterpret_cast<uint32_t*>((*region)->data());
  auto at = [&](uint64_t f, uint64_t w) {
    return std::atomic_ref<uint32_t>(words[f * kWords + w]);
  };
  uint64_t done = 0;
  for (uint64_t f = 0; f < frames; ++f) {
    if (!homes[(*placement)->home_of(f)]) continue;
    for (uint64_t w = 0; w < kWords; w += 61) {
      if (cmd == "write") {
        at(f, w).store(pattern(seed, f, w));
      } else if (uint32_t got = at(f, w).load(); got != pattern(seed, f, w)) {
        std::fprintf(stdout, "mismatch frame %lu word %lu: got %u want %u\n",
                     static_cast<unsigned long>(f), static_cast<unsigned long>(w), got,
                     pattern(seed, f, w));
        std::fflush(stdout);
        return 1;
      }
    }
    ++done;
  }
  const char* verb = cmd == "write" ? "written" : cmd == "read" ? "read" : "checked";
  std::fprintf(stdout, "%s %lu\n", verb, static_cast<unsigned long>(done));
  std::fflush(stdout);
  if (cmd == "check") return 0;
  // Serve the frames this node holds until the test kills us.
  for (;;) ::pause();
}
