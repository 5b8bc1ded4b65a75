#pragma once
// The home's directory entry for one frame (msi-home): 16 bytes a frame.
//
//   bytes 0-7   copyset  bitset of nodes that may hold a Shared copy
//                        (a superset: Shared evictions are silent)
//   bytes 8-11  version  ownership epoch, +1 for each write grant
//   bytes 12-13 owner    the Modified owner (valid in kModified)
//   byte  14    state    DirState
//   byte  15    flags    kDirBusy: a recall or invalidation round runs; the
//                        round's details live in a side table, only for
//                        busy frames
//
// The home copy of the frame's bytes (4 KiB) is kept by the driver
// (PageSource::kHome); it is current unless state == kModified or kLost.

#include <cstdint>

#include "dsm/protocol/types.h"

namespace dsm::protocol {

enum class DirState : uint8_t {
  kUncached = 0,  // no cached copies
  kShared = 1,    // copyset may hold read-only copies; the home copy is current
  kModified = 2,  // `owner` holds the only current copy
  kLost = 3,      // the owner died with the only current copy: every request
                  // is answered Lost (dsm/PROTOCOLS.md "Node failure")
};

inline constexpr uint8_t kDirBusy = 1;

struct DirEntry {
  uint64_t copyset = 0;
  Version version = 0;
  NodeId owner = kNoNode;
  DirState state = DirState::kUncached;
  uint8_t flags = 0;

  bool busy() const { return flags & kDirBusy; }
};
static_assert(sizeof(DirEntry) == 16, "the directory entry is 16 bytes a frame");

}  // namespace dsm::protocol
