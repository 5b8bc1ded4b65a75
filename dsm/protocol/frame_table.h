#pragma once
// A node's table of its own cached copies (msi-home): 16 bytes a frame.
//
//   req      8  the request in flight (valid while pending != kNone)
//   version  4  highest epoch this node has seen for the frame; a Shared or
//               Modified copy holds exactly that epoch's data
//   state    1  Invalid / Shared / Modified
//   pending  1  access the request in flight will give (kNone: none)
//   want     1  strongest access local faults wait for
//   flags    1  kSent: the request was sent (not deferred);
//               kWriteBack: an evicted Modified copy awaits the home's ack
//               (kept read-only until then, so nothing is ever lost);
//               kDirty: a Shared copy left by a recall whose reply may have
//               been lost: it is written back, not dropped, on eviction;
//               kOrphan: the frame's home died: the copy held here (if any)
//               is all this node will ever have (never evicted; a write
//               needing a grant makes it lost);
//               kLost: no copy here and none to be had: faults fail
//               (dsm/PROTOCOLS.md "Node failure")

#include <cstdint>

#include "dsm/protocol/types.h"

namespace dsm::protocol {

inline constexpr uint8_t kLocalSent = 1;
inline constexpr uint8_t kLocalWriteBack = 2;
inline constexpr uint8_t kLocalDirty = 4;
inline constexpr uint8_t kLocalOrphan = 8;
inline constexpr uint8_t kLocalLost = 16;

struct LocalEntry {
  RequestId req = 0;
  Version version = 0;
  LocalState state = LocalState::kInvalid;
  Access pending = Access::kNone;
  Access want = Access::kNone;
  uint8_t flags = 0;
};
static_assert(sizeof(LocalEntry) == 16, "the frame table entry is 16 bytes a frame");

}  // namespace dsm::protocol
