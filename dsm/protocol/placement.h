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
//    "first" needs one arbiter per frame: the frame's interleave home. This
//    class is that arbiter's table (claim()); until a frame is claimed,
//    home_of() answers the arbiter. Wiring the claim exchange into the fault
//    path is the engine's job (see dsm/PROTOCOLS.md).
//
// Threads: home_of() is const and safe from any thread once built;
// FirstTouchPlacement::claim() needs external serialisation.

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
  // The claimed home, or the arbiter while unclaimed.
  NodeId home_of(FrameId frame) const override;
  uint16_t node_count() const override { return arbiter_->node_count(); }

  // The arbiter for `frame` (where claims are decided).
  NodeId arbiter_of(FrameId frame) const { return arbiter_->home_of(frame); }
  // First claim wins; returns the frame's home after the claim. Idempotent.
  NodeId claim(FrameId frame, NodeId node);
  // A non-arbiter learns the outcome of a claim.
  void learn(FrameId frame, NodeId home) { claimed_[frame] = home; }

 private:
  FirstTouchPlacement(std::unique_ptr<InterleavePlacement> arbiter, uint64_t frame_count)
      : arbiter_(std::move(arbiter)), claimed_(frame_count, kNoNode) {}
  std::unique_ptr<InterleavePlacement> arbiter_;
  std::vector<NodeId> claimed_;
};

// "interleave" | "range" | "first-touch"; an error names the unknown policy.
base::StatusOr<std::unique_ptr<Placement>> make_placement(std::string_view name,
                                                          const std::vector<uint64_t>& weights,
                                                          uint64_t frame_count);

}  // namespace dsm::protocol
