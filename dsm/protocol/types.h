#pragma once
// Vocabulary shared by every coherence protocol: frames, nodes, access
// levels, and the local state of a frame on one node.

#include <cstdint>
#include <string_view>

namespace dsm::protocol {

// A frame is a 4 KiB page of a region, named by its index.
using FrameId = uint64_t;
// A node of the cluster, 0 .. node_count-1 (at most kMaxNodes).
using NodeId = uint16_t;
// Unique per requesting node; (requester, RequestId) names one request.
using RequestId = uint64_t;
// Per-frame epoch: incremented each time write ownership is handed out.
using Version = uint32_t;

inline constexpr NodeId kNoNode = 0xffff;
// Copysets are 64-bit bitsets, which bounds a cluster to 64 nodes.
inline constexpr unsigned kMaxNodes = 64;

enum class Access : uint8_t { kNone = 0, kRead = 1, kWrite = 2 };

// MSI state of this node's cached copy of a frame.
enum class LocalState : uint8_t {
  kInvalid = 0,   // no copy: any access faults
  kShared = 1,    // read-only copy: writes fault
  kModified = 2,  // the only copy, writable
};

std::string_view to_string(Access a);
std::string_view to_string(LocalState s);

inline uint64_t node_bit(NodeId n) { return uint64_t{1} << n; }

// Versions compare as serial numbers (RFC 1982), so a hot frame may go
// through more than 2^32 epochs: `a` is newer than `b` when it is ahead by
// less than 2^31. Live messages are never that far apart.
inline bool newer(Version a, Version b) { return static_cast<int32_t>(a - b) > 0; }

}  // namespace dsm::protocol
