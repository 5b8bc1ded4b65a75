#include "tools/cluster_view.h"

#include <fmt/format.h>

#include "base/bytes.h"

namespace tools {

std::string NodeRow::state() const {
  if (!answered) return "down";
  // A majority, so that one confused or hostile node (a wrong secret) does
  // not turn the honest ones "partial".
  if (answering_peers == 0 || 2 * seen_up_by > answering_peers) return "up";
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
  ClusterView view;
  view.cluster = config.name;
  for (const auto& n : config.nodes) {
    NodeRow row;
    row.name = n.name;
    row.address = fmt::format("{}:{}", n.host, n.port);
    auto st = client.status(n.control, timeout);
    if (st.ok()) {
      row.answered = true;
      row.status = std::move(*st);
    } else {
      row.error = st.error().message();
    }
    view.rows.push_back(std::move(row));
  }
  // Cross-reference: what each answering node says about the others.
  for (auto& row : view.rows) {
    uint64_t rtt_sum = 0;
    for (const auto& other : view.rows) {
      if (&other == &row || !other.answered) continue;
      ++row.answering_peers;
      for (const auto& p : other.status.peers) {
        if (p.name == row.name && p.up) {
          ++row.seen_up_by;
          rtt_sum += p.rtt_us;
        }
      }
    }
    if (row.seen_up_by > 0) row.rtt_us = rtt_sum / static_cast<uint64_t>(row.seen_up_by);
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
