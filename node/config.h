#pragma once
// Typed cluster settings, parsed from cluster.toml (see cluster.example.toml
// for every field). A bad file yields one Error whose message names the file,
// the line and the field; nothing is half-applied.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace node {

enum class Provider { kTcp, kShm, kSockets, kVerbs };
enum class Placement { kInterleave, kRange, kFirstTouch };

std::string_view to_string(Provider p);
std::string_view to_string(Placement p);
// The libfabric provider string: kTcp is "tcp;ofi_rxm", the others their name.
std::string_view fabric_provider_name(Provider p);

struct NodeConfig {
  std::string name;
  std::string host;     // data plane host (IPv4 address or name)
  uint16_t port = 0;    // data plane port
  std::string control;  // control plane: "host:port" or "unix:/path"; default host:(port+1)
  uint64_t memory = 0;  // bytes this node contributes
  bool primary = false;
};

struct GuestConfig {
  uint64_t memory = 0;  // bytes; default (0 in the file) = sum of node memory
  std::string cmdline;
};

struct ClusterConfig {
  std::string source;  // the file it came from, for messages
  std::string name;
  std::string secret;  // resolved secret bytes (from "file:PATH" or inline)
  Provider provider = Provider::kTcp;
  std::string protocol = "msi-home";
  Placement placement = Placement::kInterleave;
  GuestConfig guest;
  std::vector<NodeConfig> nodes;

  const NodeConfig* find(std::string_view node_name) const;
  const NodeConfig* primary() const;               // null if no node is primary
  int index_of(std::string_view node_name) const;  // -1 if absent
};

// The most guest-RAM frames node `node` caches at once (its Region's
// budget_frames), for a region of `region_frames`: what the node gives
// (`memory` / 4 KiB), at least kMinCacheFrames so that a tiny config still
// boots; 0 (no budget) when that covers the whole region anyway. Home
// copies are not in the cache and not counted (docs/spread.md "Budget").
inline constexpr uint64_t kMinCacheFrames = 1024;  // 4 MiB
uint64_t cache_budget_frames(const NodeConfig& node, uint64_t region_frames);

// "host:port" split in two; the port must be 1-65535.
struct HostPort {
  std::string host;
  uint16_t port = 0;
};
base::StatusOr<HostPort> split_host_port(std::string_view text);

// Reads and validates a file. Error messages look like
// "cluster.toml:12: node[1].memory: \"8GB?\" has an unknown unit ...".
base::StatusOr<ClusterConfig> load_config(const std::string& path);
// Same, from text; `source` names it in messages.
base::StatusOr<ClusterConfig> parse_config(std::string_view text, std::string_view source);

}  // namespace node
