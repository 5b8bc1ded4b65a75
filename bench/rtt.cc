#include "bench/rtt.h"

#include <fmt/format.h>
#include <rdma/fi_errno.h>
#include <sodium.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "base/scope_guard.h"
#include "rpc/bare_end.h"
#include "rpc/bench_link.h"
#include "rpc/fabric_transport.h"

namespace bench {

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kPage = base::kPageSize;
constexpr int kWaitMs = 5;  // as FabricTransport's progress thread
constexpr auto kStall = std::chrono::seconds(5);

double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

RttStats summarize(std::vector<double> samples, size_t size) {
  RttStats s;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  size_t n = samples.size();
  s.p50_us = samples[n / 2];
  s.p99_us = samples[std::min(n - 1, (n * 99 + 99) / 100 - 1)];
  double sum = 0;
  for (double v : samples) sum += v;
  s.mean_us = sum / static_cast<double>(n);
  s.bandwidth_mb_s = s.mean_us > 0 ? 2.0 * static_cast<double>(size) / s.mean_us : 0;
  return s;
}

struct PageBuffer {
  explicit PageBuffer(size_t bytes)
      : bytes(std::max(bytes, kPage)),
        data(static_cast<std::byte*>(std::aligned_alloc(kPage, this->bytes))) {
    if (data) std::memset(data, 0x5a, this->bytes);
  }
  ~PageBuffer() { std::free(data); }
  size_t bytes;
  std::byte* data;
};

// --- ours: FabricTransport request/response, driven from its callbacks so
// no thread hand-off is measured that the bare ping-pong does not have.

class OursDriver {
 public:
  OursDriver(rpc::Transport& t, size_t size, int total, int warmup, std::byte* pages)
      : t_(t),
        size_(size),
        total_(total),
        warmup_(warmup),
        pages_(pages),
        batch_(size > kMaxInlineSize ? static_cast<int>(size / kPage) : 1),
        inline_data_(size <= kMaxInlineSize ? size : 0, 0xa5) {
    samples_.reserve(static_cast<size_t>(total));
  }

  base::StatusOr<std::vector<double>> run() {
    issue();
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, kStall * 4, [this] { return finished_; })) {
      return base::Error("ours: the benchmark stalled", ETIMEDOUT);
    }
    if (!error_.empty()) return base::Error("ours: " + error_);
    return samples_;
  }

 private:
  void issue() {
    start_ = Clock::now();
    outstanding_.store(batch_);
    for (int p = 0; p < batch_; ++p) {
      rpc::OutMessage m;
      auto echo = m.header().initBody().initEcho();
      echo.setSequence(static_cast<uint64_t>(p));
      if (!inline_data_.empty())
        echo.setData(kj::arrayPtr(inline_data_.data(), inline_data_.size()));
      const std::byte* page =
          inline_data_.empty() ? pages_ + static_cast<size_t>(p) * kPage : nullptr;
      t_.request(1, m, page, {std::chrono::seconds(2), 0},
                 [this](base::StatusOr<const rpc::Incoming*> r) { on_reply(r); });
    }
  }

  void on_reply(const base::StatusOr<const rpc::Incoming*>& r) {
    if (!r.ok()) {
      finish(r.error().message());
      return;
    }
    if (outstanding_.fetch_sub(1) != 1) return;
    auto end = Clock::now();
    if (done_ >= warmup_) samples_.push_back(micros(end - start_));
    if (++done_ == total_) {
      finish("");
      return;
    }
    issue();
  }

  void finish(std::string error) {
    std::lock_guard lock(mu_);
    if (finished_) return;
    finished_ = true;
    error_ = std::move(error);
    cv_.notify_all();
  }

  rpc::Transport& t_;
  const size_t size_;
  const int total_;
  const int warmup_;
  std::byte* const pages_;
  const int batch_;
  std::vector<uint8_t> inline_data_;
  std::atomic<int> outstanding_{0};
  Clock::time_point start_;
  int done_ = 0;  // progress thread only, after the first issue()
  std::vector<double> samples_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool finished_ = false;
  std::string error_;
};

// --- bare: one message each way, straight on the endpoint, one thread per end.

std::string hostport(const rpc::FabricAddress& a) { return a.host + ":" + std::to_string(a.port); }

const std::vector<std::string> kNames{"bench-a", "bench-b"};

// The serving side's buffers: the largest size check_sizes() allows.
constexpr size_t kMaxSize = 1u << 20;

}  // namespace

base::Status serve_rtt(const RttOptions& o, const std::atomic<bool>* cancel,
                       const std::function<void()>& ready) {
  auto tb = TRY(rpc::FabricTransport::Create(o.provider, kNames, {o.a, o.b}, 1, o.secret));
  PageBuffer page_b(kPage);
  if (!page_b.data) return base::Error("out of memory", ENOMEM);
  TRY(tb->register_memory(page_b.data, page_b.bytes));
  // The responder answers with a page of its own registered memory, as a
  // node serving from its page store would.
  rpc::Transport* responder = tb.get();
  std::byte* reply_page = page_b.data;
  tb->set_handler(rpc::BodyKind::ECHO, [responder, reply_page](const rpc::Incoming& in) {
    rpc::OutMessage m;
    auto req = in.header.getBody().getEcho();
    auto echo = m.header().initBody().initEcho();
    echo.setSequence(req.getSequence());
    if (req.getData().size() > 0) echo.setData(req.getData());
    (void)responder->respond(in, m, in.page ? reply_page : nullptr);
  });
  auto bare = TRY(rpc::OwnedBareEnd::Create(o.provider, o.bare_a, o.bare_b, 1, kMaxSize, kWaitMs));
  const rpc::CommandSeal seal = TRY(rpc::CommandSeal::Create(o.secret));
  rpc::BenchServeHooks hooks;
  hooks.ready = ready;
  base::Status st = rpc::serve_bench(bare->end(), seal, o.serve_idle, cancel, hooks);
  tb->set_handler(rpc::BodyKind::ECHO, nullptr);
  return st;
}

base::Status check_sizes(const std::vector<size_t>& sizes) {
  if (sizes.empty()) return base::Error("no sizes given", EINVAL);
  for (size_t s : sizes) {
    bool inline_ok = s >= 1 && s <= kMaxInlineSize;
    bool pages_ok = s % kPage == 0 && s >= kPage && s <= (1u << 20);
    if (!inline_ok && !pages_ok) {
      return base::Error("size " + std::to_string(s) + " must be 1.." +
                             std::to_string(kMaxInlineSize) +
                             " bytes or a multiple of 4096 up to 1 MiB",
                         EINVAL);
    }
  }
  return base::ok_status();
}

base::StatusOr<RttReport> run_rtt(const RttOptions& options) {
  TRY(check_sizes(options.sizes));
  if (options.iterations < 1 || options.warmup < 0) {
    return base::Error("iterations must be positive", EINVAL);
  }
  RttOptions o = options;
  if (o.secret.empty()) {
    // A fresh secret: the benchmark's ends only ever talk to each other.
    uint64_t secret_bits[4];
    randombytes_buf(secret_bits, sizeof(secret_bits));
    o.secret.assign(reinterpret_cast<const char*>(secret_bits), sizeof(secret_bits));
  }
  const size_t max_size = *std::max_element(o.sizes.begin(), o.sizes.end());

  rpc::LocalBenchServer server;  // the answering end here (--role both)
  if (o.role == RttRole::kBoth) {
    TRY(server.start([&o](const std::atomic<bool>* cancel, const std::function<void()>& ready) {
      return serve_rtt(o, cancel, ready);
    }));
  }
  auto bare = TRY(rpc::OwnedBareEnd::Create(o.provider, o.bare_a, o.bare_b, 0,
                                            std::max(max_size, rpc::kCommandBytes), kWaitMs));
  rpc::BenchLink link(bare->end(), TRY(rpc::CommandSeal::Create(o.secret)));
  TRY(link.hello(o.server_wait));
  base::ScopeGuard stop_on_error([&] { (void)link.stop(std::chrono::seconds(2)); });

  auto ta = TRY(rpc::FabricTransport::Create(o.provider, kNames, {o.a, o.b}, 0, o.secret));
  PageBuffer pages_a(max_size);
  if (!pages_a.data) return base::Error("out of memory", ENOMEM);
  TRY(ta->register_memory(pages_a.data, pages_a.bytes));

  RttReport report;
  report.provider = ta->provider_name();
  report.from = hostport(o.a);
  report.to = hostport(o.b);
  report.iterations = o.iterations;
  // Ours and bare alternate in rounds, so that both see the same load on a
  // shared machine; the first round of each starts with the warm-up.
  constexpr int kRounds = 10;
  for (size_t size : o.sizes) {
    RttRow row;
    row.size = size;
    std::vector<double> ours_samples, bare_samples;
    for (int round = 0; round < kRounds; ++round) {
      int n = o.iterations / kRounds + (round < o.iterations % kRounds ? 1 : 0);
      int warmup = round == 0 ? o.warmup : 0;
      if (n == 0) continue;
      OursDriver driver(*ta, size, n + warmup, warmup, pages_a.data);
      auto ours = driver.run();
      if (!ours.ok()) {
        return base::Error(ours.error().message() + " (size " + std::to_string(size) + ")");
      }
      ours_samples.insert(ours_samples.end(), ours->begin(), ours->end());
      // The bare ping-pong moves at least 64 B each way (the echo command
      // one way, its seq the other: rpc/bench_command.h).
      auto bare_rt = link.round_trips(size, std::max(size, rpc::kCommandBytes), n + warmup);
      if (!bare_rt.ok()) {
        return base::Error(bare_rt.error().message() + " (size " + std::to_string(size) + ")");
      }
      bare_samples.insert(bare_samples.end(), bare_rt->begin() + warmup, bare_rt->end());
    }
    row.ours = summarize(std::move(ours_samples), size);
    row.bare = summarize(std::move(bare_samples), size);
    row.p50_ratio = row.bare.p50_us > 0 ? row.ours.p50_us / row.bare.p50_us : 0;
    report.rows.push_back(row);
  }
  stop_on_error.dismiss();
  TRY(link.stop(std::chrono::seconds(30)));
  if (base::Status served = server.join(); !served.ok()) {
    return base::Error("answering side: " + served.error().message());
  }
  return report;
}

std::string format_table(const RttReport& r) {
  std::string out = fmt::format(
      "rtt over {} ({} <-> {}), {} iterations per size\n"
      "{:>8}  {:>10} {:>10} {:>10}  {:>10} {:>10} {:>10}  {:>9}\n",
      r.provider, r.from, r.to, r.iterations, "size", "ours p50", "ours p99", "ours MB/s",
      "bare p50", "bare p99", "bare MB/s", "p50 ratio");
  for (const RttRow& row : r.rows) {
    out += fmt::format(
        "{:>8}  {:>8.1f}us {:>8.1f}us {:>10.1f}  {:>8.1f}us {:>8.1f}us {:>10.1f}  {:>8.2f}x\n",
        row.size, row.ours.p50_us, row.ours.p99_us, row.ours.bandwidth_mb_s, row.bare.p50_us,
        row.bare.p99_us, row.bare.bandwidth_mb_s, row.p50_ratio);
  }
  return out;
}

std::string format_json(const RttReport& r) {
  auto stats = [](const RttStats& s) {
    return fmt::format(
        "{{\"p50_us\": {:.2f}, \"p99_us\": {:.2f}, \"mean_us\": {:.2f}, \"bandwidth_mb_s\": "
        "{:.2f}}}",
        s.p50_us, s.p99_us, s.mean_us, s.bandwidth_mb_s);
  };
  std::string out = fmt::format(
      "{{\"benchmark\": \"rtt\", \"provider\": \"{}\", \"from\": \"{}\", \"to\": \"{}\", "
      "\"iterations\": {}, \"results\": [",
      r.provider, r.from, r.to, r.iterations);
  for (size_t i = 0; i < r.rows.size(); ++i) {
    const RttRow& row = r.rows[i];
    out += fmt::format("{}\n  {{\"size\": {}, \"ours\": {}, \"bare\": {}, \"p50_ratio\": {:.3f}}}",
                       i ? "," : "", row.size, stats(row.ours), stats(row.bare), row.p50_ratio);
  }
  out += "\n]}\n";
  return out;
}

}  // namespace bench
