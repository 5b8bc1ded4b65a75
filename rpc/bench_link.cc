#include "rpc/bench_link.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <future>
#include <memory>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace rpc {

namespace {

using Clock = std::chrono::steady_clock;

double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

}  // namespace

BenchLink::BenchLink(BareEnd& end, CommandSeal seal)
    : end_(end),
      seal_(std::move(seal)),
      session_(((uint64_t{randombytes_random()} << 32) | randombytes_random()) | 1) {}

base::Status BenchLink::hello(std::chrono::milliseconds wait) {
  const auto until = Clock::now() + wait;
  base::Status last;
  while (Clock::now() < until) {
    last = command({BenchCommand::kHello, 0, session_, 0}, std::chrono::seconds(1));
    if (last.ok()) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return base::Error(
      fmt::format("no answer from the serving side of the benchmark in {} s (is `--role serve` "
                  "running there with the same cluster secret?): {}",
                  wait.count() / 1000, last.ok() ? "" : last.error().message()),
      ETIMEDOUT);
}

base::StatusOr<std::vector<double>> BenchLink::round_trips(size_t request, size_t reply, int total,
                                                           const ReplyFn& on_reply) {
  request = std::max(request, kCommandBytes);
  // Written before the clock starts.
  std::vector<std::array<std::byte, kCommandBytes>> commands(static_cast<size_t>(total));
  uint64_t seq = seq_;
  for (auto& c : commands) seal_.seal({BenchCommand::kEcho, ++seq_, reply, session_}, c.data());
  std::vector<double> samples;
  samples.reserve(commands.size());
  for (const auto& c : commands) {
    std::memcpy(end_.send_buffer(), c.data(), kCommandBytes);
    auto t0 = Clock::now();
    TRY(end_.post_recv());
    TRY(end_.send(request));
    TRY(wait_answer(++seq, std::chrono::seconds(5)));
    if (on_reply) TRY(on_reply({end_.recv_buffer(), std::min(reply, end_.size())}));
    samples.push_back(micros(Clock::now() - t0));
  }
  TRY(end_.wait_sends());
  return samples;
}

base::Status BenchLink::command(BenchCommand c, std::chrono::milliseconds wait) {
  c.seq = ++seq_;
  seal_.seal(c, end_.send_buffer());
  TRY(end_.post_recv());
  TRY(end_.send(kCommandBytes, wait));
  TRY(wait_answer(c.seq, wait));
  return read_answer(end_.recv_buffer());
}

base::Status BenchLink::wait_answer(uint64_t seq, std::chrono::milliseconds wait) {
  const auto until = Clock::now() + wait;
  for (;;) {
    TRY(end_.wait_recv(std::chrono::duration_cast<std::chrono::milliseconds>(
        std::max(until - Clock::now(), Clock::duration::zero()))));
    const uint64_t got = answer_seq(end_.recv_buffer());
    if (got == seq) return {};
    if (got > seq) return base::Error("the serving side answered a command not sent yet", EPROTO);
    TRY(end_.post_recv());
  }
}

base::Status serve_bench(BareEnd& end, const CommandSeal& seal, std::chrono::milliseconds idle,
                         const std::atomic<bool>* cancel, const BenchServeHooks& hooks) {
  if (hooks.ready) hooks.ready();
  TRY(end.post_recv());
  uint64_t last_seq = 0, refused = 0, session = 0;
  auto idle_since = Clock::now();
  for (;;) {
    // Waits in slices, to notice `cancel`.
    if (auto st = end.wait_recv(std::chrono::milliseconds(200), /*idle=*/true); !st.ok()) {
      if (st.error().code() != ETIMEDOUT) return st;
      if (cancel != nullptr && cancel->load()) return base::Error("cancelled", ECANCELED);
      if (Clock::now() - idle_since > idle) {
        return base::Error(
            fmt::format("no command from the measuring side in {} s ({} refused)",
                        std::chrono::duration_cast<std::chrono::seconds>(idle).count(), refused),
            ETIMEDOUT);
      }
      continue;
    }
    idle_since = Clock::now();
    auto c = seal.open(end.recv_buffer());
    std::string refusal;
    if (!c.ok()) {
      refusal = c.error().message();
    } else if (c->seq <= last_seq && c->op != BenchCommand::kHello) {
      // (A hello starts a new session with its own seqs: a measuring side
      // that was killed leaves this side usable for the next one.)
      refusal = "replayed";
    } else if (c->op == BenchCommand::kEcho && (session == 0 || c->arg1 != session)) {
      refusal = "echo outside the session";
    } else if (c->op == BenchCommand::kEcho && (c->arg0 < kCommandBytes || c->arg0 > end.size())) {
      refusal = "bad echo size";
    } else if (c->op != BenchCommand::kEcho && c->op != BenchCommand::kHello &&
               c->op != BenchCommand::kStop && !hooks.command) {
      refusal = "command not served here";
    }
    if (!refusal.empty()) {
      if (++refused <= 10) spdlog::warn("bench: refused a command: {}", refusal);
      TRY(end.post_recv());
      continue;
    }
    last_seq = c->seq;
    switch (c->op) {
      case BenchCommand::kEcho:
        TRY(end.post_recv());
        put_answer_seq(end.send_buffer(), c->seq);
        TRY(end.send(c->arg0));
        break;
      case BenchCommand::kHello:
        session = c->arg0;
        write_answer(end.send_buffer(), c->seq, 0, "");
        TRY(end.post_recv());
        TRY(end.send(kCommandBytes));
        break;
      case BenchCommand::kStop:
        if (hooks.stopping) hooks.stopping();
        write_answer(end.send_buffer(), c->seq, 0, "");
        TRY(end.send(kCommandBytes));
        return end.wait_sends();
      default: {
        base::Status st = hooks.command(*c);
        write_answer(end.send_buffer(), c->seq, st.ok() ? 0 : st.error().code(),
                     st.ok() ? "" : st.error().message());
        TRY(end.post_recv());
        TRY(end.send(kCommandBytes));
        break;
      }
    }
  }
}

base::Status LocalBenchServer::start(Serve serve) {
  // Shared with the thread: it may still be inside set_value() when this
  // function has returned.
  auto up = std::make_shared<std::promise<void>>();
  auto ready = up->get_future();
  thread_ = std::thread([this, serve = std::move(serve), up] {
    bool told = false;
    status_ = serve(&cancel_, [&] {
      told = true;
      up->set_value();
    });
    if (!told) {
      failed_early_ = true;
      up->set_value();
    }
  });
  ready.wait();
  if (failed_early_) return join();
  return {};
}

base::Status LocalBenchServer::join() {
  if (thread_.joinable()) thread_.join();
  return status_;
}

LocalBenchServer::~LocalBenchServer() {
  cancel_ = true;
  (void)join();
}

}  // namespace rpc
