#pragma once
// Placement: which node is a frame's home. The home keeps the frame's
// directory entry and home copy (msi-home) or is its first owner and the
// owner of last resort for evictions (ivy-dynamic).
//
// Policies:
//  - interleave: frames dealt round-robin, each node's share proportional to
//    the memory it gives (weights reduced by their gcd; the repeating pattern
//    is at most kMaxInterleavePeriod long, beyond that weights are rounded).
//  - range: node i homes one contiguous range, sized by its memory.
//  - first-touch: the first node to touch a frame becomes its home. Deciding
//    "first" needs one arbiter per frame: the frame's interleave home. The
//    placement itself only names the arbiter (home_of() answers it and
//    homes_by_claim() is true); the decisions are run-time state of the
//    protocols, which exchange Claim/ClaimReply messages with the arbiter
//    and keep what they learn (protocol_base.h, dsm/PROTOCOLS.md
//    "Placement").
//
// Threads: none inside; every method is const and safe from any thread
// once built.

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "dsm/protocol/types.h"

namespace dsm::protocol {

class Placement {
 public:
  virtual ~Placement() = default;
  virtual std::string_view name() const = 0;
  virtual NodeId home_of(FrameId frame) const = 0;
  virtual uint16_t node_count() const = 0;
  // True when homes are decided at run time by claims (first-touch): then
  // home_of() names the frame's arbiter, not its home.
  virtual bool homes_by_claim() const { return false; }
};

inline constexpr uint32_t kMaxInterleavePeriod = 4096;

class InterleavePlacement final : public Placement {
 public:
  // `weights[i]` is the memory (any unit) node i gives; zero means none.
  static base::StatusOr<std::unique_ptr<InterleavePlacement>> Create(
      const std::vector<uint64_t>& weights);
  std::string_view name() const override { return "interleave"; }
  NodeId home_of(FrameId frame) const override { return pattern_[frame % pattern_.size()]; }
  uint16_t node_count() const override { return nodes_; }

 private:
  InterleavePlacement(std::vector<NodeId> pattern, uint16_t nodes)
      : pattern_(std::move(pattern)), nodes_(nodes) {}
  std::vector<NodeId> pattern_;
  uint16_t nodes_;
};

class RangePlacement final : public Placement {
 public:
  // Node i homes about frame_count * weights[i] / sum(weights) consecutive
  // frames, in node order; the last node with a weight takes the remainder.
  static base::StatusOr<std::unique_ptr<RangePlacement>> Create(
      const std::vector<uint64_t>& weights, uint64_t frame_count);
  std::string_view name() const override { return "range"; }
  NodeId home_of(FrameId frame) const override;
  uint16_t node_count() const override { return nodes_; }

 private:
  RangePlacement(std::vector<FrameId> ends, std::vector<NodeId> owners, uint16_t nodes)
      : ends_(std::move(ends)), owners_(std::move(owners)), nodes_(nodes) {}
  std::vector<FrameId> ends_;   // exclusive end of each range, ascending
  std::vector<NodeId> owners_;  // node of each range
  uint16_t nodes_;
};

class FirstTouchPlacement final : public Placement {
 public:
  static base::StatusOr<std::unique_ptr<FirstTouchPlacement>> Create(
      const std::vector<uint64_t>& weights, uint64_t frame_count);
  std::string_view name() const override { return "first-touch"; }
  // The frame's arbiter (where its claims are decided): its interleave home.
  NodeId home_of(FrameId frame) const override { return arbiter_->home_of(frame); }
  uint16_t node_count() const override { return arbiter_->node_count(); }
  bool homes_by_claim() const override { return true; }

 private:
  explicit FirstTouchPlacement(std::unique_ptr<InterleavePlacement> arbiter)
      : arbiter_(std::move(arbiter)) {}
  std::unique_ptr<InterleavePlacement> arbiter_;
};

// "interleave" | "range" | "first-touch"; an error names the unknown policy.
base::StatusOr<std::unique_ptr<Placement>> make_placement(std::string_view name,
                                                          const std::vector<uint64_t>& weights,
                                                          uint64_t frame_count);

}  // namespace dsm::protocol
