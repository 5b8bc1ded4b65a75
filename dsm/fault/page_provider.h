#pragma once
// Where the fault engine's pages come from, and where evicted pages go.
//
// The engine calls fetch() when a frame is missing on this node (read or write
// miss), when a write hits a frame held read-only (an upgrade), or to read
// ahead. The provider answers once, asynchronously or inline, through `done`:
// with page data, or with "keep your local copy, it is now writable" (an
// upgrade that needs no data). Later the coherence protocol plus the transport
// implement it; here ship ZeroFillProvider and, for tests, PatternProvider.
//
// Threads: fetch() and evict() are called from the engine's handler threads,
// the evictor thread and callers of make_present()/resolve_fault(); `done`
// may run on any thread, including inside fetch() itself, and must run
// exactly once. fetch() must not block (it runs on a handler thread). The
// engine holds no lock while calling into the provider, and never calls it
// from inside invalidate(), downgrade(), read_page(), install() or a `done`:
// the protocol may hold its own locks around those and inside `done`.

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

#include "base/result.h"
#include "dsm/frame_store.h"

namespace dsm {

struct FetchRequest {
  uint64_t frame = 0;
  Access access = Access::kRead;
  // This node holds a read-only copy: the provider may answer "keep local".
  bool have_copy = false;
  // Issued by read-ahead, not by a faulting thread; the provider may rank it lower.
  bool read_ahead = false;
};

struct Supply {
  // 4096 bytes, read by the engine before `done` returns; nullptr means "keep
  // the local copy" (only valid when the request had have_copy).
  const std::byte* page = nullptr;
  // Install writable (exclusive) rather than write-protected (shared). A write
  // request must be answered writable; a read may be answered either way.
  bool writable = false;
  // Time the provider spent in the coherence protocol (state machine), if it
  // measures it; the engine reports it apart from transport time.
  uint64_t protocol_ns = 0;
  // `page` stays valid and unchanged until the provider's install batch
  // closes (FaultEngine::open_batch/close_batch on the thread calling
  // `done`): the engine may then install it later, with its neighbours.
  bool page_lasts = false;
};

// A fetch answered with an error of this code: the frame is lost (a node
// died with its only copy, dsm/PROTOCOLS.md "Node failure"). The engine does
// not let the faulting threads retry: it poisons the page where they fault
// (UFFDIO_POISON), so they get SIGBUS. Other errors make them fault again.
inline constexpr int kFrameLostErrno = ENOLINK;

using FetchDone = std::function<void(base::StatusOr<Supply>)>;
using EvictDone = std::function<void(base::Status)>;

class PageProvider {
 public:
  virtual ~PageProvider() = default;

  virtual void fetch(const FetchRequest& request, FetchDone done) = 0;

  // Several fetches at once (a read-ahead window), so a provider can move
  // them in fewer messages. Same contract as fetch() for each; dones[i]
  // answers requests[i]. Default: one fetch() each.
  virtual void fetch_many(std::span<const FetchRequest> requests, std::span<FetchDone> dones) {
    for (size_t i = 0; i < requests.size(); ++i) fetch(requests[i], std::move(dones[i]));
  }

  // The evictor drops `frame` from this node. `dirty` is its data when it was
  // writable since it was installed (write it back), nullptr when clean; the
  // pointer is valid until `done` runs. The engine punches the page out only
  // after `done` reports success.
  virtual void evict(uint64_t frame, const std::byte* dirty, EvictDone done) = 0;
};

}  // namespace dsm
