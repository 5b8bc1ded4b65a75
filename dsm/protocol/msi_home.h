#pragma once
// msi-home: a home-based directory protocol, MSI write-invalidate,
// sequentially consistent. Every frame has a fixed home (Placement) that
// keeps its directory entry (directory.h) and its home copy, and serialises
// all requests for the frame. See dsm/PROTOCOLS.md for the exchanges.
//
// Robustness, in one line each:
//  - requests are retried on timeout with the same (requester, req);
//  - the home is busy while it recalls an owner or collects invalidation
//    acks, and queues other requests for the frame meanwhile;
//  - a node never discards the only current copy before the home has it:
//    an evicted Modified copy stays read-only until WriteBackAck, and a
//    recalled owner keeps a Shared copy until it is invalidated;
//  - versions (ownership epochs) order grants, invalidations and recalls,
//    so stale or duplicated messages are recognised and ignored;
//  - a write grant the requester did not ask for is answered GrantRefused,
//    and the home takes the ownership back;
//  - Shared copies are evicted silently: the copyset is a superset, and an
//    invalidation of a copy that is gone is simply acknowledged.
//
// Threads: none (see protocol.h).

#include <deque>
#include <unordered_map>
#include <vector>

#include "dsm/protocol/directory.h"
#include "dsm/protocol/frame_table.h"
#include "dsm/protocol/protocol_base.h"

namespace dsm::protocol {

class MsiHome final : public ProtocolBase {
 public:
  explicit MsiHome(ProtocolConfig config);

  std::string_view name() const override { return "msi-home"; }

  // The directory entry of a frame homed on this node (tests, stats).
  const DirEntry& directory(FrameId frame) const { return dir_[frame]; }
  const LocalEntry& local(FrameId frame) const { return local_[frame]; }

 protected:
  void fault(FrameId frame, Access access) override;
  void coalesce(FrameId frame, Access access) override;
  base::Status evict(FrameId frame) override;
  base::Status handle(const Message& msg) override;
  void timeout(FrameId frame) override;
  void node_down(NodeId node) override;
  bool frame_lost(FrameId frame) const override { return local_[frame].flags & kLocalLost; }
  FrameView local_view(FrameId frame) const override;
  std::string describe_local(FrameId frame) const override;

 private:
  // A recall or an invalidation round the home runs for one frame.
  struct Txn {
    enum class Kind : uint8_t { kRecall, kInval } kind = Kind::kRecall;
    Message request;            // the request being served
    Version prev = 0;           // kInval: the version before this write epoch
    uint64_t acks = 0;          // kInval: sharers still to acknowledge
    std::deque<Message> queue;  // later requests for the frame, in arrival order
  };

  // Requester side.
  void send_request(FrameId f);
  void start_request(FrameId f, Access a);
  void send_deferred(FrameId f);
  base::Status on_read_grant(const Message& m);
  base::Status on_write_grant(const Message& m);
  base::Status on_inval(const Message& m);
  base::Status on_recall(const Message& m);
  base::Status on_writeback_ack(const Message& m);
  base::Status on_lost(const Message& m);
  // The home died (or answered Lost): keep a Shared/Modified copy that
  // needs no grant, else the frame is lost here.
  void orphan(FrameId f, NodeId home);

  // Home side.
  void home_request(const Message& m);
  void grant_write(const Message& m, Version prev);
  void finish_txn(FrameId f, bool redispatch);
  // Every invalidation ack of a write round is in: grant (or, when the
  // writer died meanwhile, leave the frame Uncached).
  void inval_done(FrameId f);
  void home_node_down(FrameId f, NodeId node);
  base::Status on_recall_reply(const Message& m);
  base::Status on_writeback(const Message& m);
  base::Status on_inval_ack(const Message& m);
  base::Status on_grant_refused(const Message& m);

  std::vector<LocalEntry> local_;
  std::vector<DirEntry> dir_;              // indexed by frame; used for frames homed here
  std::unordered_map<FrameId, Txn> txns_;  // busy frames only
  // Frames kModified in the directory: the req of the request their owner
  // was granted for, so that request again (a retry or a duplicate) is
  // answered with the same grant and older ones are known stale.
  std::unordered_map<FrameId, RequestId> granted_;
  RequestId next_req_ = 1;
};

}  // namespace dsm::protocol
