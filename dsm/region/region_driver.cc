// The driver: protocol calls under mu_, their actions carried out in order.

#include "dsm/region/region_driver.h"

#include <capnp/serialize.h>

#include <algorithm>
#include <array>
#include <cstring>

#include <spdlog/spdlog.h>

#include "base/bytes.h"
#include "base/thread_name.h"
#include "dsm/region/coherence_wire.h"

namespace dsm {

namespace {

constexpr uint64_t kPage = base::kPageSize;
alignas(4096) const std::array<std::byte, kPage> kZeroPage{};

uint64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

protocol::Access to_protocol(Access a) {
  return a == Access::kWrite ? protocol::Access::kWrite : protocol::Access::kRead;
}

}  // namespace

Driver::Driver(const RegionConfig& config, std::unique_ptr<protocol::Protocol> protocol,
               rpc::Transport& transport, std::byte* home)
    : config_(config),
      transport_(transport),
      home_(home),
      gate_(std::make_shared<Gate>()),
      protocol_(std::move(protocol)),
      rtt_(config.node_count, RttEstimator(config.retry_interval, config.retry_max)),
      last_heard_(config.node_count),
      outstanding_(config.node_count),
      fired_(config.frames, 0),
      asked_peer_(config.frames, kNoPeer),
      asked_at_(config.frames),
      armed_(config.frames, 0) {}

Driver::~Driver() { close(); }

void Driver::start(FaultEngine* engine) {
  engine_ = engine;
  gate_->driver = this;
  std::shared_ptr<Gate> gate = gate_;
  auto handler = [gate](const rpc::Incoming& in) {
    std::lock_guard lock(gate->mu);
    if (gate->driver != nullptr) gate->driver->on_incoming(in);
  };
  transport_.set_handler(rpc::BodyKind::COHERENCE, handler);
  transport_.set_handler(rpc::BodyKind::COHERENCE_RUN, handler);
  timer_thread_ = std::thread([this] {
    base::name_this_thread("pg-dsm-timer");
    timer_loop();
  });
}

void Driver::close() {
  {
    std::lock_guard lock(gate_->mu);
    if (gate_->driver == nullptr && !timer_thread_.joinable()) return;
    gate_->driver = nullptr;
  }
  transport_.set_handler(rpc::BodyKind::COHERENCE, nullptr);
  transport_.set_handler(rpc::BodyKind::COHERENCE_RUN, nullptr);
  {
    std::lock_guard lock(timer_mu_);
    timer_stop_ = true;
  }
  timer_cv_.notify_all();
  if (timer_thread_.joinable()) timer_thread_.join();
  std::unordered_map<uint64_t, Fetch> fetches;
  std::unordered_map<uint64_t, EvictDone> evicts;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    fetches.swap(fetches_);
    evicts.swap(evicts_);
    for (auto& o : outstanding_) o.clear();
  }
  for (auto& [frame, f] : fetches) f.done(base::Error("region closed", ECANCELED));
  for (auto& [frame, done] : evicts) done(base::Error("region closed", ECANCELED));
}

void Driver::fetch(const FetchRequest& request, FetchDone done) {
  std::unique_lock lock(mu_);
  if (closed_) {
    lock.unlock();
    done(base::Error("region closed", ECANCELED));
    return;
  }
  if (fetches_.count(request.frame) != 0) {
    // The engine keeps one request per frame; a second one is a bug there.
    lock.unlock();
    done(base::Error("a fetch for this frame is already pending", EBUSY));
    return;
  }
  fetch_locked(request, std::move(done));
}

void Driver::fetch_many(std::span<const FetchRequest> requests, std::span<FetchDone> dones) {
  std::unique_lock lock(mu_);
  std::vector<FetchDone> refused;
  std::vector<Outgoing> batch;
  batch_ = &batch;
  for (size_t i = 0; i < requests.size(); ++i) {
    if (closed_ || fetches_.count(requests[i].frame) != 0) {
      refused.push_back(std::move(dones[i]));
      continue;
    }
    fetch_locked(requests[i], std::move(dones[i]));
  }
  batch_ = nullptr;
  flush(batch);
  lock.unlock();
  for (auto& done : refused) done(base::Error("region closed or fetch already pending", EBUSY));
}

void Driver::fetch_locked(const FetchRequest& request, FetchDone done) {
  Fetch& f = fetches_[request.frame];
  f.access = to_protocol(request.access);
  f.have_copy = request.have_copy;
  f.done = std::move(done);
  protocol::Actions out;
  const uint64_t t0 = now_ns();
  protocol_->on_fault(request.frame, f.access, &out);
  const uint64_t dt = now_ns() - t0;
  f.protocol_ns += dt;
  // The peer the request goes to (the first send for this frame), for the
  // RTT sample and the queued-or-lost test of its timer.
  for (const protocol::Action& a : out) {
    if (a.type != protocol::ActionType::kSend || a.frame != request.frame) continue;
    if (a.msg.to >= outstanding_.size()) break;
    f.peer = a.msg.to;
    f.sent = Clock::now();
    f.seq = next_seq_++;
    outstanding_[f.peer].insert(f.seq);
    break;
  }
  run(out, nullptr, 0);  // may answer (and erase) `f`
}

void Driver::evict(uint64_t frame, const std::byte* /*dirty: read back from the cache*/,
                   EvictDone done) {
  std::unique_lock lock(mu_);
  if (closed_) {
    lock.unlock();
    done(base::Error("region closed", ECANCELED));
    return;
  }
  protocol::Actions out;
  base::Status st = protocol_->on_evict(frame, &out);
  if (!st.ok()) {
    AtomicDriverCounters::bump(counters_.evict_refused);
    lock.unlock();
    done(std::move(st));
    return;
  }
  evicts_[frame] = std::move(done);
  run(out, nullptr, 0);  // a Drop for `frame` answers the eviction
  auto it = evicts_.find(frame);
  if (it == evicts_.end()) return;
  const protocol::FrameView v = protocol_->view(frame);
  if (v.state == protocol::LocalState::kInvalid) {
    EvictDone d = std::move(it->second);
    evicts_.erase(it);
    d({});
  } else if (!v.busy) {
    // Nothing will drop it later (no write-back runs): the copy stays.
    EvictDone d = std::move(it->second);
    evicts_.erase(it);
    d(base::Error("the protocol keeps this copy", EAGAIN));
  }
  // Else a write-back or hand-back is under way: its acknowledgement drops
  // the frame and answers the eviction.
}

void Driver::on_incoming(const rpc::Incoming& in) {
  if (in.header.getBody().which() == rpc::BodyKind::COHERENCE_RUN) {
    on_incoming_run(in);
    return;
  }
  auto msg =
      decode_coherence(in, config_.self, config_.node_count, config_.region_id, config_.frames);
  if (!msg.ok()) {
    AtomicDriverCounters::bump(counters_.rejected_malformed);
    spdlog::debug("region {}: from node {}: {}", config_.region_id, in.from, msg.error().message());
    return;
  }
  std::lock_guard lock(mu_);
  if (closed_) return;
  heard(msg->from, msg->frame);
  protocol::Actions out;
  const uint64_t t0 = now_ns();
  base::Status st = protocol_->on_message(*msg, &out);
  const uint64_t dt = now_ns() - t0;
  if (!st.ok()) {
    AtomicDriverCounters::bump(counters_.rejected_protocol);
    spdlog::debug("region {}: rejected {} from node {}: {}", config_.region_id,
                  protocol::to_string(msg->type), in.from, st.error().message());
    return;
  }
  counters_.received(msg->type, in.header.totalSize().wordCount * 8 + (in.page ? kPage : 0));
  run(out, in.page, dt);
}

void Driver::on_incoming_run(const rpc::Incoming& in) {
  std::vector<const std::byte*> pages;
  auto msgs = decode_coherence_run(in, config_.self, config_.node_count, config_.region_id,
                                   config_.frames, &pages);
  if (!msgs.ok()) {
    AtomicDriverCounters::bump(counters_.rejected_malformed);
    spdlog::debug("region {}: from node {}: {}", config_.region_id, in.from,
                  msgs.error().message());
    return;
  }
  const uint64_t head_share = in.header.totalSize().wordCount * 8 / msgs->size();
  std::unique_lock lock(mu_);
  if (closed_) return;
  // The elements are handled as if they had arrived one after the other;
  // what they make the protocol send goes out as runs too (grants for a run
  // of requests: one frame of pages back).
  std::vector<Outgoing> batch;
  batch_ = &batch;
  // The run's pages stay in the receive buffer until this handler returns:
  // the engine holds the answers they make and installs them together, one
  // UFFDIO_COPY per run of consecutive frames (FaultEngine::open_batch),
  // after mu_ is released: the copies (~2 us a page) no longer hold up the
  // evictor and the fault handlers, and an engine call another thread makes
  // on a held frame meanwhile waits for its install.
  if (in.page != nullptr) {
    run_pages_ = {in.page, in.page + in.page_count * kPage};
    engine_->open_batch();
  }
  protocol::Actions out;
  for (size_t i = 0; i < msgs->size(); ++i) {
    auto& msg = (*msgs)[i];
    if (!msg.ok()) {
      AtomicDriverCounters::bump(counters_.rejected_malformed);
      continue;
    }
    out.clear();
    heard(msg->from, msg->frame);
    const uint64_t t0 = now_ns();
    base::Status st = protocol_->on_message(*msg, &out);
    const uint64_t dt = now_ns() - t0;
    if (!st.ok()) {
      AtomicDriverCounters::bump(counters_.rejected_protocol);
      continue;
    }
    counters_.received(msg->type, head_share + (pages[i] ? kPage : 0));
    run(out, pages[i], dt);
  }
  if (in.page != nullptr) {
    engine_->close_batch();
    run_pages_ = {};
  }
  batch_ = nullptr;
  flush(batch);
}

void Driver::flush(std::vector<Outgoing>& batch) {
  // Per destination, in order; a run holds messages that all carry a page
  // or none, at most kMaxRunPages of them.
  std::vector<bool> done(batch.size(), false);
  std::vector<protocol::Message> msgs;
  std::vector<const std::byte*> pages;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (done[i]) continue;
    const protocol::NodeId to = batch[i].msg.to;
    msgs.clear();
    pages.clear();
    bool with_pages = batch[i].page != nullptr;
    for (size_t j = i; j < batch.size(); ++j) {
      if (done[j] || batch[j].msg.to != to) continue;
      if ((batch[j].page != nullptr) != with_pages || msgs.size() == rpc::kMaxRunPages) {
        send_run(msgs, pages);
        msgs.clear();
        pages.clear();
        with_pages = batch[j].page != nullptr;
      }
      done[j] = true;
      msgs.push_back(batch[j].msg);
      if (with_pages) pages.push_back(batch[j].page);
    }
    send_run(msgs, pages);
  }
  batch.clear();
}

void Driver::send_run(std::span<const protocol::Message> msgs,
                      std::span<const std::byte* const> pages) {
  if (msgs.empty()) return;
  if (msgs.size() > 1) {
    rpc::OutMessage m;
    encode_coherence_run(msgs, config_.region_id, m);
    const uint64_t head = capnp::computeSerializedSizeInWords(m.builder()) * 8 / msgs.size();
    // With no pages, send_pages is an ordinary send of the run's header.
    base::Status st = transport_.send_pages(msgs.front().to, m, pages);
    if (st.ok()) {
      AtomicDriverCounters::bump(counters_.runs_sent);
      for (const auto& msg : msgs) counters_.sent(msg.type, head + (pages.empty() ? 0 : kPage));
      return;
    }
    // No runs on this transport, no session yet, or no run buffer: the
    // pieces go one by one (and wait for a handshake like any message).
  }
  for (size_t i = 0; i < msgs.size(); ++i) {
    send_now(msgs[i], pages.empty() ? nullptr : pages[i]);
  }
}

void Driver::run(const protocol::Actions& out, const std::byte* incoming, uint64_t call_ns) {
  for (const protocol::Action& a : out) {
    switch (a.type) {
      case protocol::ActionType::kSend:
        send(a, incoming);
        break;
      case protocol::ActionType::kInstall:
        install(a, incoming, call_ns);
        break;
      case protocol::ActionType::kWriteProtect:
        if (!engine_->downgrade(a.frame).ok()) AtomicDriverCounters::bump(counters_.install_errors);
        break;
      case protocol::ActionType::kDrop:
        drop(a.frame);
        break;
      case protocol::ActionType::kStore: {
        // A queued message carrying this home copy must leave with the
        // bytes it was queued with: it gets its own copy first (rare: a
        // grant, then a write-back of the same frame within one batch).
        if (batch_ != nullptr) {
          std::byte* home_page = home_ + a.frame * kPage;
          for (Outgoing& o : *batch_) {
            if (o.page != home_page) continue;
            o.copy.assign(home_page, home_page + kPage);
            o.page = o.copy.data();
          }
        }
        alignas(64) std::byte scratch[kPage];
        const std::byte* p = page_of(a.page, a.frame, incoming, scratch);
        if (p != nullptr) std::memcpy(home_ + a.frame * kPage, p, kPage);
        break;
      }
      case protocol::ActionType::kComplete:
        complete(a.frame, a.access, call_ns);
        break;
      case protocol::ActionType::kArmTimer:
        arm(a.frame, out);
        break;
      case protocol::ActionType::kFail:
        fail(a.frame);
        break;
    }
  }
}

const std::byte* Driver::page_of(protocol::PageSource source, uint64_t frame,
                                 const std::byte* incoming, std::byte* scratch) {
  const std::byte* p = nullptr;
  switch (source) {
    case protocol::PageSource::kNone:
      return nullptr;
    case protocol::PageSource::kIncoming:
      p = incoming;
      break;
    case protocol::PageSource::kCache:
      if (auto it = parked_.find(frame); it != parked_.end()) {
        p = it->second.bytes.data();
      } else if (engine_->read_page(frame, {scratch, kPage}).ok()) {
        p = scratch;
      }
      break;
    case protocol::PageSource::kHome:
      p = home_ + frame * kPage;
      break;
    case protocol::PageSource::kZero:
      p = kZeroPage.data();
      break;
  }
  if (p == nullptr) {
    AtomicDriverCounters::bump(counters_.page_errors);
    spdlog::warn("region {}: frame {}: no bytes for page source {}", config_.region_id, frame,
                 protocol::to_string(source));
  }
  return p;
}

void Driver::send(const protocol::Action& a, const std::byte* incoming) {
  alignas(64) std::byte scratch[kPage];
  const std::byte* page = nullptr;
  if (a.msg.has_page) {
    page = page_of(a.page, a.frame, incoming, scratch);
    // A message that promises a page and has none would be rejected there;
    // better not to send it and let the peer's retry ask again.
    if (page == nullptr) return;
  }
  if (batch_ != nullptr) {
    // Inside a batch the page must outlive this call: the home copy, the
    // zero page and the received page do (the latter until the handler
    // returns, after the flush; a Store copies it first); a cached copy (in
    // `scratch`, or parked) does not and is copied (ivy-dynamic's owners
    // answer from their cached copy).
    Outgoing o{a.msg, page, {}};
    if (page != nullptr && a.page == protocol::PageSource::kCache) {
      o.copy.assign(page, page + kPage);
      o.page = o.copy.data();  // the buffer moves with the vector
    }
    batch_->push_back(std::move(o));
    return;
  }
  send_now(a.msg, page);
}

void Driver::send_now(const protocol::Message& msg, const std::byte* page) {
  rpc::OutMessage m;
  encode_coherence(msg, config_.region_id, m);
  const uint64_t bytes = capnp::computeSerializedSizeInWords(m.builder()) * 8 + (page ? kPage : 0);
  // The transport copies a page outside registered memory before returning.
  if (transport_.send(msg.to, m, page).ok()) {
    counters_.sent(msg.type, bytes);
  } else {
    AtomicDriverCounters::bump(counters_.send_errors);
  }
}

void Driver::answer(uint64_t frame, Fetch& f, const std::byte* page, bool writable,
                    uint64_t call_ns) {
  Supply s;
  s.page = page;
  s.writable = writable;
  s.protocol_ns = f.protocol_ns + call_ns;
  s.page_lasts = page != nullptr && page >= run_pages_.first && page < run_pages_.second;
  forget_fetch(f);
  FetchDone done = std::move(f.done);
  fetches_.erase(frame);
  disarm_if_idle(frame);
  // The engine copies the page before `done` returns.
  done(s);
}

void Driver::install(const protocol::Action& a, const std::byte* incoming, uint64_t call_ns) {
  const bool writable = a.access == protocol::Access::kWrite;
  alignas(64) std::byte scratch[kPage];
  auto it = fetches_.find(a.frame);
  if (it != fetches_.end() && it->second.access <= a.access) {
    Fetch& f = it->second;
    if (a.page == protocol::PageSource::kCache && f.have_copy) {
      answer(a.frame, f, nullptr, writable, call_ns);  // keep the local bytes
      return;
    }
    const std::byte* p = page_of(a.page, a.frame, incoming, scratch);
    if (p != nullptr) answer(a.frame, f, p, writable, call_ns);
    return;
  }
  // Nobody waits for this access: change the copy in place.
  base::Status st;
  if (a.page == protocol::PageSource::kCache) {
    if (!writable) {
      st = engine_->downgrade(a.frame);
    } else if (engine_->read_page(a.frame, {scratch, kPage}).ok()) {
      st = engine_->install(a.frame, scratch, true);
    } else {
      st = base::Error("no cached copy to make writable", ENOENT);
    }
  } else {
    const std::byte* p = page_of(a.page, a.frame, incoming, scratch);
    if (p == nullptr) return;
    st = engine_->install(a.frame, p, writable);
    if (!st.ok() && st.error().code() == ENOSPC) {
      // No room now: keep the bytes (the protocol counts on them) until
      // the evictor made some.
      Parked& pk = parked_[a.frame];
      pk.bytes.assign(p, p + kPage);
      pk.writable = writable;
      return;
    }
    parked_.erase(a.frame);
  }
  if (!st.ok()) {
    AtomicDriverCounters::bump(counters_.install_errors);
    spdlog::warn("region {}: frame {}: install: {}", config_.region_id, a.frame,
                 st.error().message());
  }
}

void Driver::complete(uint64_t frame, protocol::Access access, uint64_t call_ns) {
  auto it = fetches_.find(frame);
  if (it == fetches_.end() || it->second.access > access) return;
  // No Install answered the fetch: the copy here already suffices (the
  // protocol had it, or an earlier action of this call installed it).
  Fetch& f = it->second;
  const bool writable = protocol_->view(frame).state == protocol::LocalState::kModified;
  if (f.have_copy) {
    answer(frame, f, nullptr, writable, call_ns);
    return;
  }
  alignas(64) std::byte scratch[kPage];
  if (auto pk = parked_.find(frame); pk != parked_.end()) {
    // A fault found the parked page: the engine installs it with the
    // fault's own budget slot.
    std::memcpy(scratch, pk->second.bytes.data(), kPage);
    parked_.erase(pk);
    answer(frame, f, scratch, writable, call_ns);
    return;
  }
  if (engine_->read_page(frame, {scratch, kPage}).ok()) {
    answer(frame, f, scratch, writable, call_ns);
    return;
  }
  AtomicDriverCounters::bump(counters_.page_errors);
  forget_fetch(f);
  FetchDone done = std::move(f.done);
  fetches_.erase(it);
  done(base::Error("protocol completed a frame this node does not hold", EIO));
}

void Driver::drop(uint64_t frame) {
  parked_.erase(frame);
  if (auto it = evicts_.find(frame); it != evicts_.end()) {
    // The engine punches the page once the eviction is answered.
    EvictDone done = std::move(it->second);
    evicts_.erase(it);
    disarm_if_idle(frame);
    done({});
    return;
  }
  if (!engine_->invalidate(frame).ok()) AtomicDriverCounters::bump(counters_.install_errors);
}

void Driver::fail(uint64_t frame) {
  parked_.erase(frame);
  auto it = fetches_.find(frame);
  if (it == fetches_.end()) return;
  forget_fetch(it->second);
  FetchDone done = std::move(it->second.done);
  fetches_.erase(it);
  disarm_if_idle(frame);
  done(base::Error("frame lost: a node died with its only copy", kFrameLostErrno));
}

void Driver::node_down(uint16_t node) {
  std::lock_guard lock(mu_);
  if (closed_) return;
  protocol::Actions out;
  protocol_->on_node_down(node, &out);
  run(out, nullptr, 0);
}

void Driver::node_up(uint16_t node) {
  std::lock_guard lock(mu_);
  if (closed_) return;
  protocol::Actions out;
  protocol_->on_node_up(node, &out);
  run(out, nullptr, 0);
}

void Driver::arm(uint64_t frame, const protocol::Actions& out) {
  if (frame >= fired_.size()) return;
  // The slowest peer this call sends to for the frame (a request, a
  // recall, an invalidation round); none: the least timeout.
  Clock::duration rto = config_.retry_interval;
  protocol::NodeId first = kNoPeer;
  for (const protocol::Action& a : out) {
    if (a.type != protocol::ActionType::kSend || a.frame != frame || a.msg.to >= rtt_.size()) {
      continue;
    }
    if (first == kNoPeer) first = a.msg.to;
    rto = std::max<Clock::duration>(rto, rtt_[a.msg.to].rto());
  }
  const uint32_t shift = fired_[frame];
  if (first != kNoPeer) {
    // A first send times its answer; a re-sent one does not (Karn).
    asked_peer_[frame] = shift == 0 ? first : kNoPeer;
    asked_at_[frame] = Clock::now();
  }
  if (arm_after(frame, backoff(rto, shift, config_.retry_max)) && shift != 0) {
    AtomicDriverCounters::bump(counters_.timer_backoffs);
  }
}

bool Driver::arm_after(uint64_t frame, Clock::duration timeout) {
  std::lock_guard lock(timer_mu_);
  if (frame >= armed_.size() || armed_[frame] != 0) return false;  // one timer a frame is enough
  // Deadlines rounded up to a grid of retry_interval / 4 share one wake-up
  // of the timer thread.
  const auto granule =
      std::max<Clock::duration>(config_.retry_interval / 4, std::chrono::microseconds(100));
  auto due = Clock::now() + timeout;
  due = Clock::time_point((due.time_since_epoch() / granule + 1) * granule);
  if (++next_gen_ == 0) ++next_gen_;
  armed_[frame] = next_gen_;
  timers_.push({due, frame, next_gen_});
  // The thread sleeps until the earliest live timer or next_unpark_: only an
  // earlier deadline needs to wake it (min() while it runs: it looks again).
  if (due < timer_sleep_until_) timer_cv_.notify_one();
  return true;
}

void Driver::disarm_if_idle(uint64_t frame) {
  const protocol::FrameView v = protocol_->view(frame);
  if (v.pending != protocol::Access::kNone || v.busy) return;
  if (frame < fired_.size()) fired_[frame] = 0;  // answered: the backoff starts over
  std::lock_guard lock(timer_mu_);
  if (frame < armed_.size()) armed_[frame] = 0;
}

void Driver::forget_fetch(const Fetch& f) {
  if (f.peer != kNoPeer) outstanding_[f.peer].erase(f.seq);
}

void Driver::heard(protocol::NodeId from, uint64_t frame) {
  if (from >= last_heard_.size()) return;
  const auto now = Clock::now();
  last_heard_[from] = now;
  if (frame < asked_peer_.size() && asked_peer_[frame] == from) {
    rtt_[from].sample(now - asked_at_[frame]);
    asked_peer_[frame] = kNoPeer;
  }
}

void Driver::fire(uint64_t frame, protocol::Actions& out) {
  if (auto it = fetches_.find(frame); it != fetches_.end()) {
    Fetch& f = it->second;
    if (f.peer != kNoPeer && !outstanding_[f.peer].empty() &&
        looks_queued({f.sent, last_heard_[f.peer], Clock::now(), fired_[frame], f.seq,
                      *outstanding_[f.peer].begin()},
                     config_.retry_interval / 4)) {
      // Queued, not lost: the peer is answering right now, and an older
      // fetch to it is still waiting its turn. Wait longer instead of asking
      // again. (A peer that went quiet a while ago lost this one.)
      AtomicDriverCounters::bump(counters_.retries_deferred);
      ++fired_[frame];
      if (arm_after(frame, backoff(rtt_[f.peer].rto(), fired_[frame], config_.retry_max))) {
        AtomicDriverCounters::bump(counters_.timer_backoffs);
      }
      return;
    }
  }
  asked_peer_[frame] = kNoPeer;  // what comes back may answer either send
  AtomicDriverCounters::bump(counters_.timer_fires);
  if (fired_[frame] < kMaxBackoffShift) ++fired_[frame];
  out.clear();
  protocol_->on_timeout(frame, &out);
  // A kArmTimer in `out` re-arms with the doubled timeout of the peers the
  // re-sends go to (arm()).
  run(out, nullptr, 0);
  bool armed;
  {
    std::lock_guard lock(timer_mu_);
    armed = armed_[frame] != 0;
  }
  if (!armed) fired_[frame] = 0;  // nothing outstanding any more
}

void Driver::timer_loop() {
  std::unique_lock lock(timer_mu_);
  std::vector<uint64_t> due;
  while (!timer_stop_) {
    if (Clock::now() >= next_unpark_) {
      // Parked pages are rare; looking for them every retry interval is cheap.
      next_unpark_ = Clock::now() + config_.retry_interval;
      lock.unlock();
      {
        std::lock_guard plock(mu_);
        if (!closed_ && !parked_.empty()) unpark();
      }
      lock.lock();
      continue;
    }
    // Disarmed timers at the top need no wake-up.
    while (!timers_.empty() && armed_[timers_.top().frame] != timers_.top().gen) timers_.pop();
    const auto next = timers_.empty() ? next_unpark_ : std::min(timers_.top().due, next_unpark_);
    if (Clock::now() < next) {
      timer_sleep_until_ = next;
      timer_cv_.wait_until(lock, next);
      timer_sleep_until_ = Clock::time_point::min();
      continue;
    }
    due.clear();
    const auto now = Clock::now();
    while (!timers_.empty() && timers_.top().due <= now) {
      const Timer t = timers_.top();
      timers_.pop();
      if (armed_[t.frame] != t.gen) continue;  // disarmed
      armed_[t.frame] = 0;
      due.push_back(t.frame);
    }
    if (due.empty()) continue;
    lock.unlock();
    {
      std::lock_guard plock(mu_);
      if (!closed_) {
        protocol::Actions out;
        for (uint64_t frame : due) fire(frame, out);
      }
    }
    lock.lock();
  }
}

void Driver::unpark() {
  for (auto it = parked_.begin(); it != parked_.end();) {
    base::Status st = engine_->install(it->first, it->second.bytes.data(), it->second.writable);
    if (!st.ok() && st.error().code() == ENOSPC) return;  // still no room
    if (!st.ok()) AtomicDriverCounters::bump(counters_.install_errors);
    it = parked_.erase(it);
  }
}

protocol::ProtocolStats Driver::protocol_stats() const {
  std::lock_guard lock(mu_);
  protocol::ProtocolStats s = earlier_stats_;
  s += protocol_->stats();
  return s;
}

std::string Driver::describe(uint64_t frame) const {
  std::lock_guard lock(mu_);
  return protocol_->describe(frame);
}

}  // namespace dsm
