#include "tools/cluster_view.h"

#include <fmt/format.h>

#include "base/bytes.h"

namespace tools {

std::string NodeRow::state() const {
  if (!answered) return "down";
  if (answering_peers == 0 || seen_up_by == answering_peers) return "up";
  if (seen_up_by == 0) return "isolated";
  return "partial";
}

int ClusterView::up() const {
  int n = 0;
  for (const auto& r : rows) n += r.state() == "up" ? 1 : 0;
  return n;
}

ClusterView query_cluster(const node::ClusterConfig& config, rpc::control::ControlClient& client,
                          std::chrono::milliseconds timeout) {
  std::vector<base::StatusOr<rpc::control::NodeStatusInfo>> answers;
  for (const auto& n : config.nodes) answers.push_back(client.status(n.control, timeout));
  return build_view(config, std::move(answers));
}

ClusterView build_view(const node::ClusterConfig& config,
                       std::vector<base::StatusOr<rpc::control::NodeStatusInfo>> answers) {
  ClusterView view;
  view.cluster = config.name;
  for (size_t i = 0; i < config.nodes.size(); ++i) {
    const auto& n = config.nodes[i];
    NodeRow row;
    row.name = n.name;
    row.address = fmt::format("{}:{}", n.host, n.port);
    if (i < answers.size() && answers[i].ok()) {
      row.answered = true;
      row.status = std::move(answers[i]).value();
    } else {
      row.error = i < answers.size() ? answers[i].error().message() : "not asked";
    }
    view.rows.push_back(std::move(row));
  }
  // Cross-reference: what each answering node says about the others.
  auto sees_up = [](const NodeRow& observer, const std::string& name, uint64_t* rtt) {
    for (const auto& p : observer.status.peers) {
      if (p.name == name && p.up) {
        if (rtt) *rtt = p.rtt_us;
        return true;
      }
    }
    return false;
  };
  // First pass: a node that answers but that no other answering node sees
  // up (a wrong secret, a cut link) is isolated; its opinion of the others
  // is not counted, so it cannot make the healthy nodes look "partial".
  std::vector<bool> isolated(view.rows.size(), false);
  for (size_t i = 0; i < view.rows.size(); ++i) {
    if (!view.rows[i].answered) continue;
    bool any_other = false;
    bool seen = false;
    for (size_t j = 0; j < view.rows.size(); ++j) {
      if (j == i || !view.rows[j].answered) continue;
      any_other = true;
      seen = seen || sees_up(view.rows[j], view.rows[i].name, nullptr);
    }
    isolated[i] = any_other && !seen;
  }
  for (size_t i = 0; i < view.rows.size(); ++i) {
    NodeRow& row = view.rows[i];
    uint64_t rtt_sum = 0;
    uint64_t rtt_count = 0;  // a peer that has not measured the RTT yet says 0
    for (size_t j = 0; j < view.rows.size(); ++j) {
      if (j == i || !view.rows[j].answered || isolated[j]) continue;
      ++row.answering_peers;
      uint64_t rtt = 0;
      if (sees_up(view.rows[j], row.name, &rtt)) {
        ++row.seen_up_by;
        rtt_sum += rtt;
        rtt_count += rtt > 0 ? 1 : 0;
      }
    }
    if (rtt_count > 0) row.rtt_us = rtt_sum / rtt_count;
    if (row.answered) {
      for (const auto& p : row.status.peers) row.peers_up += (!p.self && p.up) ? 1 : 0;
    }
  }
  return view;
}

std::string format_rtt(uint64_t rtt_us) {
  if (rtt_us == 0) return "-";
  if (rtt_us < 10000) return fmt::format("{}us", rtt_us);
  return fmt::format("{:.1f}ms", static_cast<double>(rtt_us) / 1000.0);
}

std::string format_cluster_table(const ClusterView& view) {
  std::string out =
      fmt::format("cluster {}: {} of {} nodes up\n", view.cluster, view.up(), view.rows.size());
  out += fmt::format("{:<12} {:<22} {:>10} {:>10} {:<9} {:>8} {:>6}\n", "NAME", "ADDRESS", "GIVEN",
                     "USED", "STATE", "RTT", "PEERS");
  for (const auto& r : view.rows) {
    std::string given = r.answered ? base::format_size(r.status.memory_given) : "-";
    std::string used = r.answered ? base::format_size(r.status.memory_used) : "-";
    std::string peers = r.answered ? fmt::format("{}/{}", r.peers_up, view.rows.size() - 1) : "-";
    out += fmt::format("{:<12} {:<22} {:>10} {:>10} {:<9} {:>8} {:>6}\n", r.name, r.address, given,
                       used, r.state(), format_rtt(r.rtt_us), peers);
  }
  return out;
}

std::string format_node_view(const rpc::control::NodeStatusInfo& s) {
  std::string out =
      fmt::format("node {} of cluster {} (pid {}, up {:.1f} s): membership as it sees it\n", s.name,
                  s.cluster, s.pid, static_cast<double>(s.uptime_ms) / 1000.0);
  out += fmt::format("{:<12} {:<22} {:>10} {:>10} {:<6} {:>8} {:>9}\n", "NAME", "ADDRESS", "GIVEN",
                     "USED", "STATE", "RTT", "REJECTED");
  for (const auto& p : s.peers) {
    std::string name = p.self ? p.name + " *" : p.name;
    out += fmt::format("{:<12} {:<22} {:>10} {:>10} {:<6} {:>8} {:>9}\n", name, p.address,
                       p.memory_given ? base::format_size(p.memory_given) : "-",
                       p.memory_given ? base::format_size(p.memory_used) : "-",
                       p.up ? "up" : "down", format_rtt(p.rtt_us), p.rejected);
  }
  return out;
}

}  // namespace tools
