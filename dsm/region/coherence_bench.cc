#include "dsm/region/coherence_bench.h"

#include <atomic>
#include <chrono>
#include <memory>

#include <fmt/format.h>

#include "dsm/protocol/patterns.h"
#include "dsm/region/region.h"

namespace dsm {

namespace {

constexpr uint64_t kPage = 4096;
constexpr int kNodes = 3;
constexpr uint64_t kWarmFrame = 0;  // connections and first faults, not measured

struct Cluster {
  std::vector<std::unique_ptr<rpc::FabricTransport>> transports;
  std::vector<std::unique_ptr<Region>> regions;
  ~Cluster() {
    regions.clear();  // before the transports they use
    transports.clear();
  }
};

// Word `index` (uint32) of `frame` as node `n` maps it.
std::atomic_ref<uint32_t> word(Cluster& c, int n, uint64_t frame, uint64_t index) {
  auto* p = reinterpret_cast<uint32_t*>(c.regions[n]->data() + frame * kPage) + index;
  return std::atomic_ref<uint32_t>(*p);
}

// The nodes' statistics, added up.
struct Totals {
  uint64_t read_faults = 0, write_faults = 0, upgrades = 0, messages = 0, bytes = 0,
           invalidations = 0, forwards = 0, retries = 0, timer_fires = 0;
};

Totals totals(const Cluster& c) {
  Totals t;
  for (const auto& r : c.regions) {
    RegionStats s = r->stats();
    t.read_faults += s.engine.read_misses;
    t.write_faults += s.engine.write_misses;
    t.upgrades += s.engine.write_upgrades;
    t.invalidations += s.engine.invalidations;
    t.forwards += s.proto.forwards;
    t.retries += s.proto.retries;
    t.timer_fires += s.driver.timer_fires;
    for (size_t i = 0; i < DriverCounters::kTypes; ++i) {
      t.messages += s.driver.messages_sent[i];
      t.bytes += s.driver.bytes_sent[i];
    }
  }
  return t;
}

base::StatusOr<std::unique_ptr<Cluster>> make_cluster(const CoherenceBenchOptions& o,
                                                      const std::string& protocol, uint16_t port,
                                                      uint64_t frames, std::string* provider) {
  auto c = std::make_unique<Cluster>();
  std::vector<std::string> names;
  std::vector<rpc::FabricAddress> addrs;
  for (int i = 0; i < kNodes; ++i) {
    names.push_back(fmt::format("n{}", i));
    addrs.push_back({o.host, static_cast<uint16_t>(port + i)});
  }
  for (int i = 0; i < kNodes; ++i) {
    auto t =
        TRY(rpc::FabricTransport::Create(o.provider, names, addrs, i, "pangaea-bench-coherence"));
    *provider = t->provider_name();
    c->transports.push_back(std::move(t));
  }
  for (int i = 0; i < kNodes; ++i) {
    RegionConfig rc;
    rc.self = static_cast<uint16_t>(i);
    rc.node_count = kNodes;
    rc.frames = frames;
    rc.protocol = protocol;
    rc.placement = "range";
    rc.weights = {1, 0, 0};  // node 0 homes every frame, as in the simulator
    rc.read_ahead_max = 0;   // one frame per pattern: nothing to read ahead
    c->regions.push_back(TRY(Region::Create(rc, *c->transports[i])));
  }
  return c;
}

base::StatusOr<CoherenceFigures> run_one(Cluster& c, const CoherenceBenchOptions& o,
                                         const std::string& protocol, const std::string& pattern,
                                         uint64_t frame) {
  protocol::sim::PatternOptions po;
  po.protocol = protocol;
  po.pattern = pattern;
  po.nodes = kNodes;
  po.rounds = o.rounds;
  po.write_every = o.write_every;
  const auto ops = TRY(protocol::sim::pattern_ops(po));
  const auto sim = TRY(protocol::sim::run_pattern(po));

  // Word 0 is shared; in false-sharing node n owns word 16 * (n + 1)
  // (different bytes, one page). `expect` mirrors every word written.
  const bool own_words = pattern == "false-sharing";
  std::vector<uint32_t> expect(kNodes + 1, 0);
  uint32_t next = 1;
  const Totals before = totals(c);
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& op : ops) {
    const int n = op.node;
    const size_t slot = own_words ? n + 1 : 0;
    auto w = word(c, n, frame, 16 * slot);
    if (op.access == protocol::Access::kWrite) {
      expect[slot] = next++;
      w.store(expect[slot]);
    } else if (uint32_t v = w.load(); v != expect[slot]) {
      return base::Error(fmt::format("{} {}: node {} read {} where {} was written last", protocol,
                                     pattern, n, v, expect[slot]),
                         EIO);
    }
  }
  const double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  const Totals after = totals(c);
  CoherenceFigures f;
  f.pattern = pattern;
  f.operations = ops.size();
  f.read_faults = after.read_faults - before.read_faults;
  f.write_faults = after.write_faults - before.write_faults;
  f.upgrades = after.upgrades - before.upgrades;
  f.messages = after.messages - before.messages;
  f.bytes = after.bytes - before.bytes;
  f.invalidations = after.invalidations - before.invalidations;
  f.forwards = after.forwards - before.forwards;
  f.retries = after.retries - before.retries;
  f.timer_fires = after.timer_fires - before.timer_fires;
  f.sim_messages = sim.messages;
  f.us_per_op = ops.empty() ? 0 : us / static_cast<double>(ops.size());
  return f;
}

}  // namespace

base::StatusOr<CoherenceBenchReport> run_coherence_bench(const CoherenceBenchOptions& o) {
  if (o.protocols.empty() || o.patterns.empty()) {
    return base::Error("bench coherence: no protocol or no pattern", EINVAL);
  }
  if (o.port + 3 * o.protocols.size() > 65535) return base::Error("port out of range", EINVAL);
  CoherenceBenchReport r;
  r.rounds = o.rounds;
  for (size_t p = 0; p < o.protocols.size(); ++p) {
    const std::string& protocol = o.protocols[p];
    // Each protocol gets its own ports: no socket of the last one in the way.
    auto c = TRY(make_cluster(o, protocol, static_cast<uint16_t>(o.port + 3 * p),
                              o.patterns.size() + 1, &r.provider));
    // Warm up: every node reads and writes a frame of its own.
    for (int n = 0; n < kNodes; ++n) {
      (void)word(*c, n, kWarmFrame, 0).load();
      word(*c, n, kWarmFrame, 0).store(static_cast<uint32_t>(n));
    }
    CoherenceProtocolReport pr;
    pr.protocol = protocol;
    for (size_t i = 0; i < o.patterns.size(); ++i) {
      pr.patterns.push_back(TRY(run_one(*c, o, protocol, o.patterns[i], i + 1)));
    }
    for (const auto& region : c->regions) {
      if (region->stats().rejected() != 0) {
        return base::Error(protocol + ": a node rejected a coherence message", EPROTO);
      }
    }
    r.protocols.push_back(std::move(pr));
  }
  return r;
}

std::string format_coherence_table(const CoherenceBenchReport& r) {
  std::string s = fmt::format(
      "coherence patterns on 3 regions over libfabric ({}), {} rounds each; figures summed over "
      "the nodes\n",
      r.provider, r.rounds);
  s += fmt::format(
      "{:<12} {:<14} {:>6} {:>7} {:>7} {:>7} {:>7} {:>9} {:>6} {:>6} {:>6} {:>6} {:>7} {:>9}\n",
      "protocol", "pattern", "ops", "rd-flt", "wr-flt", "upgr", "msgs", "bytes", "inval", "fwd",
      "retry", "timer", "sim-msg", "us/op");
  for (const auto& p : r.protocols) {
    for (const auto& f : p.patterns) {
      s += fmt::format(
          "{:<12} {:<14} {:>6} {:>7} {:>7} {:>7} {:>7} {:>9} {:>6} {:>6} {:>6} {:>6} {:>7} "
          "{:>9.1f}\n",
          p.protocol, f.pattern, f.operations, f.read_faults, f.write_faults, f.upgrades,
          f.messages, f.bytes, f.invalidations, f.forwards, f.retries, f.timer_fires,
          f.sim_messages, f.us_per_op);
    }
  }
  return s;
}

std::string format_coherence_json(const CoherenceBenchReport& r) {
  std::string s =
      fmt::format(R"({{"provider":"{}","rounds":{},"protocols":[)", r.provider, r.rounds);
  for (size_t i = 0; i < r.protocols.size(); ++i) {
    const auto& p = r.protocols[i];
    s += fmt::format(R"({}{{"protocol":"{}","patterns":[)", i ? "," : "", p.protocol);
    for (size_t j = 0; j < p.patterns.size(); ++j) {
      const auto& f = p.patterns[j];
      s += fmt::format(R"({}{{"pattern":"{}","operations":{},"read_faults":{},"write_faults":{},)"
                       R"("upgrades":{},"messages":{},"bytes":{},"invalidations":{},"forwards":{},)"
                       R"("retries":{},"timer_fires":{},"sim_messages":{},"us_per_op":{:.2f}}})",
                       j ? "," : "", f.pattern, f.operations, f.read_faults, f.write_faults,
                       f.upgrades, f.messages, f.bytes, f.invalidations, f.forwards, f.retries,
                       f.timer_fires, f.sim_messages, f.us_per_op);
    }
    s += "]}";
  }
  s += "]}\n";
  return s;
}

}  // namespace dsm
