// `pangaea bench <benchmark>`: the macro benchmarks. Each benchmark is one
// sub-subcommand registered by an adder in kBenchmarks below; to add one,
// write `void add_<name>(CLI::App& bench, int& exit_code)` (here or beside
// its library in bench/) and list it in kBenchmarks.

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "base/log.h"
#include "bench/guest/guest_bench.h"
#include "bench/rtt.h"
#include "dsm/region/coherence_bench.h"
#include "dsm/region/fault_bench.h"
#include "node/config.h"
#include "tools/commands.h"
#include "tools/exit_codes.h"

namespace tools {

namespace {

// Benchmark ends bind to the nodes' hosts at these port offsets, so running
// nodes on those ports are left alone.
constexpr int kOursPortOffset = 1000;
constexpr int kBarePortOffset = 2000;
constexpr uint16_t kDefaultLocalPort = 47000;

// --role and --server-wait of a benchmark that can run across two hosts.
void add_role_options(CLI::App* cmd, std::string* role, int* server_wait_s,
                      const std::string& role_help) {
  cmd->add_option("--role", *role, role_help)->check(CLI::IsMember({"both", "measure", "serve"}));
  cmd->add_option("--server-wait", *server_wait_s,
                  "--role measure: seconds to wait for the serving side to answer")
      ->check(CLI::Range(1, 3600));
}

// `--role serve` of a benchmark: runs `serve` (which calls `ready` once it
// listens) until the measuring side says stop; the exit code.
int serve_role(const char* bench, const char* side, const rpc::FabricAddress& at,
               const rpc::FabricAddress& bare,
               const std::function<base::Status(const std::function<void()>&)>& serve) {
  base::Status st = serve([&] {
    std::printf("pangaea bench %s: %s on %s:%u (bare %s:%u); waiting for --role measure\n", bench,
                side, at.host.c_str(), at.port, bare.host.c_str(), bare.port);
    std::fflush(stdout);
  });
  if (!st.ok()) {
    std::fprintf(stderr, "pangaea bench %s: %s\n", bench, st.error().message().c_str());
    return kExitFailure;
  }
  std::printf("pangaea bench %s: %s done\n", bench, side);
  return kExitOk;
}

void add_rtt(CLI::App& bench, int& exit_code) {
  struct Options {
    std::string config;
    std::string from;
    std::string to;
    std::string provider;
    std::vector<size_t> sizes{64, 4096, 65536};
    int iterations = 1000;
    int warmup = 100;
    int port = kDefaultLocalPort;
    bool json = false;
    std::string role = "both";
    int server_wait_s = 30;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* cmd = bench.add_subcommand(
      "rtt",
      "Round trip of our request/response path vs a bare libfabric ping-pong over the same "
      "provider; the answering end in this process, or on its own host with --role");
  auto* config = cmd->add_option("--config", opts->config,
                                 "cluster.toml: take addresses and "
                                 "provider from it")
                     ->type_name("FILE");
  auto* from = cmd->add_option("--from", opts->from, "Node whose host is the requesting end")
                   ->type_name("NAME");
  auto* to =
      cmd->add_option("--to", opts->to, "Node whose host is the answering end")->type_name("NAME");
  from->needs(config);
  to->needs(config);
  config->needs(from)->needs(to);
  cmd->add_option("--provider", opts->provider,
                  "tcp, sockets, verbs (default: the config's, else tcp)")
      ->check(CLI::IsMember({"tcp", "sockets", "verbs", "shm"}));
  cmd->add_option("--size", opts->sizes,
                  "Payload sizes in bytes, comma separated: up to 2048, or multiples of 4096")
      ->delimiter(',')
      ->type_name("N,...");
  cmd->add_option("--iterations", opts->iterations, "Measured round trips per size")
      ->check(CLI::Range(1, 10000000));
  cmd->add_option("--warmup", opts->warmup, "Unmeasured round trips first")
      ->check(CLI::Range(0, 1000000));
  cmd->add_option("--port", opts->port, "Without --config: first of four 127.0.0.1 ports to use")
      ->check(CLI::Range(1, 65532));
  cmd->add_flag("--json", opts->json, "Print JSON (with p50_ratio per size)");
  add_role_options(cmd, &opts->role, &opts->server_wait_s,
                   "both: both ends here (default); serve: the answering end only (run it first "
                   "on --to's host); measure: the requesting end, the answering one served "
                   "elsewhere");

  cmd->callback([opts, &exit_code] {
    bench::RttOptions o;
    o.role = opts->role == "serve"     ? bench::RttRole::kServe
             : opts->role == "measure" ? bench::RttRole::kMeasure
                                       : bench::RttRole::kBoth;
    o.server_wait = std::chrono::seconds(opts->server_wait_s);
    o.sizes = opts->sizes;
    o.iterations = opts->iterations;
    o.warmup = opts->warmup;
    if (auto st = bench::check_sizes(o.sizes); !st.ok()) {
      std::fprintf(stderr, "pangaea bench rtt: --size: %s\n", st.error().message().c_str());
      exit_code = kExitUsage;
      return;
    }
    if (!opts->config.empty()) {
      auto c = node::load_config(opts->config);
      if (!c.ok()) {
        std::fprintf(stderr, "pangaea bench rtt: %s\n", c.error().message().c_str());
        exit_code = kExitUsage;
        return;
      }
      const node::NodeConfig* a = c->find(opts->from);
      const node::NodeConfig* b = c->find(opts->to);
      if (!a || !b || a == b) {
        std::fprintf(stderr, "pangaea bench rtt: %s: --from and --to must name two nodes of it\n",
                     opts->config.c_str());
        exit_code = kExitUsage;
        return;
      }
      if (a->port + kBarePortOffset > 65535 || b->port + kBarePortOffset > 65535) {
        std::fprintf(stderr, "pangaea bench rtt: node ports must be below %d\n",
                     65536 - kBarePortOffset);
        exit_code = kExitUsage;
        return;
      }
      auto at = [](const node::NodeConfig* n, int offset) {
        return rpc::FabricAddress{n->host, static_cast<uint16_t>(n->port + offset)};
      };
      o.a = at(a, kOursPortOffset);
      o.b = at(b, kOursPortOffset);
      o.bare_a = at(a, kBarePortOffset);
      o.bare_b = at(b, kBarePortOffset);
      o.provider = std::string(node::to_string(c->provider));
      o.secret = c->secret;
    } else {
      auto port = [&](int i) {
        return rpc::FabricAddress{"127.0.0.1", static_cast<uint16_t>(opts->port + i)};
      };
      o.a = port(0);
      o.b = port(1);
      o.bare_a = port(2);
      o.bare_b = port(3);
    }
    if (!opts->provider.empty()) o.provider = opts->provider;
    // Without --config both ends of a two-process run share a fixed secret
    // (the fault bench does the same); --role both picks a random one.
    if (o.role != bench::RttRole::kBoth && o.secret.empty()) o.secret = "pangaea-bench-rtt";
    if (o.role == bench::RttRole::kServe) {
      exit_code = serve_role("rtt", "answering end", o.b, o.bare_b, [&o](const auto& ready) {
        return bench::serve_rtt(o, nullptr, ready);
      });
      return;
    }
    auto report = bench::run_rtt(o);
    if (!report.ok()) {
      std::fprintf(stderr, "pangaea bench rtt: %s\n", report.error().message().c_str());
      exit_code = kExitFailure;
      return;
    }
    std::fputs((opts->json ? bench::format_json(*report) : bench::format_table(*report)).c_str(),
               stdout);
    exit_code = kExitOk;
  });
}

// `pangaea bench fault`: options only; the benchmark is dsm/region/fault_bench.h.
void add_fault(CLI::App& bench, int& exit_code) {
  struct Options {
    std::string config, protocol = "msi-home", plot, provider;
    uint64_t faults = 2000, scan_mib = 64;
    uint32_t scan_read_ahead = dsm::FaultBenchOptions{}.scan_read_ahead;
    uint64_t scan_budget_mib = dsm::FaultBenchOptions{}.scan_budget_bytes >> 20;
    bool gib = false, json = false;
    int port = kDefaultLocalPort + 100;
    std::string role = "both";
    int server_wait_s = 30;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* cmd = bench.add_subcommand(
      "fault",
      "Remote 4 KiB fault latency and scan bandwidth of a DSM region vs a local "
      "userfaultfd fault plus a bare fabric round trip; node 1's side in this process, or "
      "on its own host with --role");
  cmd->add_option("--config", opts->config,
                  "cluster.toml: provider and the first two nodes' "
                  "hosts (ports + 3000..3003)")
      ->type_name("FILE");
  cmd->add_option("--protocol", opts->protocol, "msi-home or ivy-dynamic")
      ->check(CLI::IsMember({"msi-home", "ivy-dynamic"}));
  cmd->add_option("--provider", opts->provider,
                  "tcp, sockets, verbs (default: config's, else tcp)");
  cmd->add_option("--faults", opts->faults, "Measured faults per pattern")
      ->check(CLI::Range(16, 1000000));
  cmd->add_option("--scan-mib", opts->scan_mib, "Remote memory scanned, MiB")
      ->check(CLI::Range(1, 65536));
  cmd->add_flag("--scan-1gib", opts->gib, "Scan 1 GiB (the issue's target size)");
  cmd->add_option("--scan-budget-mib", opts->scan_budget_mib,
                  "Node 0's cache during the scan, MiB (0: no budget, no eviction; default 256)")
      ->check(CLI::Range(0, 65536));
  cmd->add_option("--scan-read-ahead", opts->scan_read_ahead,
                  "Largest read-ahead window of the scan, pages (default 256)")
      ->check(CLI::Range(0, 65536));
  cmd->add_option("--port", opts->port, "Without --config: first of four 127.0.0.1 ports")
      ->check(CLI::Range(1, 65532));
  cmd->add_flag("--json", opts->json, "Print JSON (read_fault_p50_ratio, scan_bandwidth_ratio)");
  cmd->add_option("--plot", opts->plot, "Write a latency histogram (gnuplot)")
      ->type_name("FILE.svg");
  add_role_options(cmd, &opts->role, &opts->server_wait_s,
                   "both: both nodes here (default); serve: node 1's side only (run it first on "
                   "the second node's host); measure: node 0's side, node 1's served elsewhere");
  cmd->callback([opts, &exit_code] {
    dsm::FaultBenchOptions o;
    o.role = opts->role == "serve"     ? dsm::FaultBenchRole::kServe
             : opts->role == "measure" ? dsm::FaultBenchRole::kMeasure
                                       : dsm::FaultBenchRole::kBoth;
    o.server_wait = std::chrono::seconds(opts->server_wait_s);
    o.protocol = opts->protocol;
    o.faults = opts->faults;
    o.scan_bytes = (opts->gib ? 1024 : opts->scan_mib) << 20;
    o.scan_read_ahead = opts->scan_read_ahead;
    o.scan_budget_bytes = opts->scan_budget_mib << 20;
    auto at = [](const std::string& host, int port) {
      return rpc::FabricAddress{host, static_cast<uint16_t>(port)};
    };
    if (!opts->config.empty()) {
      auto c = node::load_config(opts->config);
      if (!c.ok() || c->nodes.size() < 2 || c->nodes[0].port + 3003 > 65535 ||
          c->nodes[1].port + 3003 > 65535) {
        std::fprintf(stderr, "pangaea bench fault: %s\n",
                     c.ok() ? "the config needs two nodes with ports below 62533"
                            : c.error().message().c_str());
        exit_code = kExitUsage;
        return;
      }
      const auto& n0 = c->nodes[0];
      const auto& n1 = c->nodes[1];
      o.a = at(n0.host, n0.port + 3000);
      o.b = at(n1.host, n1.port + 3001);
      o.bare_a = at(n0.host, n0.port + 3002);
      o.bare_b = at(n1.host, n1.port + 3003);
      o.provider = std::string(node::to_string(c->provider));
      o.secret = c->secret;
    } else {
      o.a = at("127.0.0.1", opts->port);
      o.b = at("127.0.0.1", opts->port + 1);
      o.bare_a = at("127.0.0.1", opts->port + 2);
      o.bare_b = at("127.0.0.1", opts->port + 3);
    }
    if (!opts->provider.empty()) o.provider = opts->provider;
    if (o.role == dsm::FaultBenchRole::kServe) {
      exit_code = serve_role("fault", "node 1's side", o.b, o.bare_b, [&o](const auto& ready) {
        return dsm::serve_fault_bench(o, nullptr, ready);
      });
      return;
    }
    auto report = dsm::run_fault_bench(o);
    if (!report.ok()) {
      std::fprintf(stderr, "pangaea bench fault: %s\n", report.error().message().c_str());
      exit_code = kExitFailure;
      return;
    }
    std::fputs(
        (opts->json ? dsm::format_fault_json(*report) : dsm::format_fault_table(*report)).c_str(),
        stdout);
    exit_code = kExitOk;
    if (!opts->plot.empty()) {
      if (auto st = dsm::plot_fault_histogram(*report, opts->plot); !st.ok()) {
        std::fprintf(stderr, "pangaea bench fault: --plot: %s\n", st.error().message().c_str());
        exit_code = kExitFailure;
      }
    }
  });
}

// `pangaea bench coherence`: options only; the benchmark is
// dsm/region/coherence_bench.h (3 regions in this process over libfabric).
void add_coherence(CLI::App& bench, int& exit_code) {
  struct Options {
    std::string protocol = "all", provider = "tcp";
    uint64_t rounds = 200, write_every = 10;
    int port = kDefaultLocalPort + 300;
    bool json = false;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* cmd = bench.add_subcommand(
      "coherence",
      "Ping-pong, false-sharing and read-mostly on 3 DSM regions (real userfaultfd, "
      "libfabric on 127.0.0.1): faults, messages, bytes, invalidations, time per op");
  cmd->add_option("--protocol", opts->protocol, "msi-home, ivy-dynamic or all")
      ->check(CLI::IsMember({"msi-home", "ivy-dynamic", "all"}));
  cmd->add_option("--rounds", opts->rounds, "Rounds of each pattern")
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--write-every", opts->write_every, "read-mostly: a write every N rounds")
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--provider", opts->provider, "tcp, sockets, verbs");
  cmd->add_option("--port", opts->port, "First of 3 (6 with all) 127.0.0.1 ports")
      ->check(CLI::Range(1, 65529));
  cmd->add_flag("--json", opts->json, "Print JSON");
  cmd->callback([opts, &exit_code] {
    dsm::CoherenceBenchOptions o;
    if (opts->protocol != "all") o.protocols = {opts->protocol};
    o.rounds = opts->rounds;
    o.write_every = opts->write_every;
    o.provider = opts->provider;
    o.port = static_cast<uint16_t>(opts->port);
    auto report = dsm::run_coherence_bench(o);
    if (!report.ok()) {
      std::fprintf(stderr, "pangaea bench coherence: %s\n", report.error().message().c_str());
      exit_code = kExitFailure;
      return;
    }
    std::fputs(
        (opts->json ? dsm::format_coherence_json(*report) : dsm::format_coherence_table(*report))
            .c_str(),
        stdout);
    exit_code = kExitOk;
  });
}

// Add new benchmarks here.
using BenchmarkAdder = void (*)(CLI::App& bench, int& exit_code);
constexpr BenchmarkAdder kBenchmarks[] = {add_rtt, add_fault, add_coherence,
                                          bench::add_guest_bench};

}  // namespace

void add_bench_command(CLI::App& app, int& exit_code) {
  CLI::App* bench =
      app.add_subcommand("bench", "Benchmarks, each a ratio against the raw mechanism");
  bench->require_subcommand(1);
  for (BenchmarkAdder add : kBenchmarks) add(*bench, exit_code);
}

}  // namespace tools
