#include "dsm/protocol/placement.h"

#include <algorithm>
#include <numeric>
#include <string>

namespace dsm::protocol {
namespace {

base::Status check_weights(const std::vector<uint64_t>& weights) {
  if (weights.empty()) return base::Error("placement: no nodes", EINVAL);
  if (weights.size() > kMaxNodes) {
    return base::Error("placement: " + std::to_string(weights.size()) + " nodes, at most " +
                           std::to_string(kMaxNodes),
                       EINVAL);
  }
  if (std::all_of(weights.begin(), weights.end(), [](uint64_t w) { return w == 0; })) {
    return base::Error("placement: no node gives memory", EINVAL);
  }
  return {};
}

}  // namespace

base::StatusOr<std::unique_ptr<InterleavePlacement>> InterleavePlacement::Create(
    const std::vector<uint64_t>& weights) {
  TRY(check_weights(weights));
  uint64_t g = 0;
  for (uint64_t w : weights) g = std::gcd(g, w);
  std::vector<uint64_t> w(weights.size());
  uint64_t period = 0;
  for (size_t i = 0; i < w.size(); ++i) period += w[i] = weights[i] / g;
  if (period > kMaxInterleavePeriod) {
    // Round to a period of about kMaxInterleavePeriod; a node that gives
    // anything keeps at least one slot.
    long double scale = static_cast<long double>(kMaxInterleavePeriod) / period;
    period = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      if (w[i] == 0) continue;
      w[i] = std::max<uint64_t>(1, static_cast<uint64_t>(w[i] * scale + 0.5L));
      period += w[i];
    }
  }
  // Smooth weighted round-robin: spreads each node's slots evenly over the
  // period instead of in runs, so neighbouring frames land on different nodes.
  std::vector<NodeId> pattern;
  pattern.reserve(period);
  std::vector<int64_t> credit(w.size(), 0);
  for (uint64_t slot = 0; slot < period; ++slot) {
    size_t best = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      credit[i] += static_cast<int64_t>(w[i]);
      if (credit[i] > credit[best]) best = i;
    }
    credit[best] -= static_cast<int64_t>(period);
    pattern.push_back(static_cast<NodeId>(best));
  }
  return std::unique_ptr<InterleavePlacement>(
      new InterleavePlacement(std::move(pattern), static_cast<uint16_t>(weights.size())));
}

base::StatusOr<std::unique_ptr<RangePlacement>> RangePlacement::Create(
    const std::vector<uint64_t>& weights, uint64_t frame_count) {
  TRY(check_weights(weights));
  long double total = 0;
  for (uint64_t w : weights) total += w;
  std::vector<FrameId> ends;
  std::vector<NodeId> owners;
  long double acc = 0;
  size_t last = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (weights[i] != 0) last = i;
  }
  FrameId start = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (weights[i] == 0) continue;
    acc += weights[i];
    FrameId end = i == last ? frame_count : static_cast<FrameId>(frame_count * (acc / total));
    if (end <= start) continue;  // a share too small for one frame
    ends.push_back(end);
    owners.push_back(static_cast<NodeId>(i));
    start = end;
  }
  if (ends.empty()) {  // frame_count == 0: everything maps to the last node
    ends.push_back(0);
    owners.push_back(static_cast<NodeId>(last));
  }
  return std::unique_ptr<RangePlacement>(new RangePlacement(std::move(ends), std::move(owners),
                                                            static_cast<uint16_t>(weights.size())));
}

NodeId RangePlacement::home_of(FrameId frame) const {
  auto it = std::upper_bound(ends_.begin(), ends_.end(), frame);
  if (it == ends_.end()) return owners_.back();  // beyond the region: the last range
  return owners_[it - ends_.begin()];
}

base::StatusOr<std::unique_ptr<FirstTouchPlacement>> FirstTouchPlacement::Create(
    const std::vector<uint64_t>& weights, uint64_t /*frame_count*/) {
  auto arbiter = TRY(InterleavePlacement::Create(weights));
  return std::unique_ptr<FirstTouchPlacement>(new FirstTouchPlacement(std::move(arbiter)));
}

base::StatusOr<std::unique_ptr<Placement>> make_placement(std::string_view name,
                                                          const std::vector<uint64_t>& weights,
                                                          uint64_t frame_count) {
  if (name == "interleave")
    return std::unique_ptr<Placement>(TRY(InterleavePlacement::Create(weights)));
  if (name == "range") {
    return std::unique_ptr<Placement>(TRY(RangePlacement::Create(weights, frame_count)));
  }
  if (name == "first-touch") {
    return std::unique_ptr<Placement>(TRY(FirstTouchPlacement::Create(weights, frame_count)));
  }
  return base::Error(
      "unknown placement \"" + std::string(name) + "\" (known: interleave, range, first-touch)",
      EINVAL);
}

}  // namespace dsm::protocol
