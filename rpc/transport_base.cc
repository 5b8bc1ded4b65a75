#include "rpc/transport_base.h"

#include <capnp/serialize.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <exception>

namespace rpc {

namespace {

uint64_t random_epoch() {
  uint64_t e = 0;
  while (e == 0) randombytes_buf(&e, sizeof(e));
  return e;
}

bool is_auth(BodyKind kind) {
  return kind == BodyKind::HELLO || kind == BodyKind::CHALLENGE || kind == BodyKind::PROOF;
}

std::span<const uint8_t> bytes_of(capnp::Data::Reader d) {
  return std::span<const uint8_t>(d.begin(), d.size());
}

bool to_nonce(capnp::Data::Reader d, auth::Nonce& out) {
  if (d.size() != out.size()) return false;
  std::memcpy(out.data(), d.begin(), out.size());
  return true;
}

// Nonces and MACs are both 32-byte arrays.
kj::ArrayPtr<const kj::byte> data_of(const auth::Nonce& n) {
  return kj::arrayPtr(n.data(), n.size());
}

}  // namespace

Counters& Counters::operator+=(const Counters& o) {
  sent += o.sent;
  received += o.received;
  rejected_malformed += o.rejected_malformed;
  rejected_unauthenticated += o.rejected_unauthenticated;
  rejected_stale += o.rejected_stale;
  auth_failures += o.auth_failures;
  unexpected += o.unexpected;
  send_errors += o.send_errors;
  queue_drops += o.queue_drops;
  restarts += o.restarts;
  fenced += o.fenced;
  timeouts += o.timeouts;
  retries += o.retries;
  page_copies += o.page_copies;
  return *this;
}

TransportBase::TransportBase(std::vector<std::string> names, NodeId self, auth::Keys keys)
    : names_(std::move(names)), self_(self), keys_(keys), epoch_(random_epoch()) {
  // Not resize(): Peer holds a deque of move-only entries.
  peers_ = std::vector<Peer>(names_.size());
}

TransportBase::~TransportBase() = default;

void TransportBase::set_handler(BodyKind kind, Handler handler) {
  size_t i = static_cast<size_t>(kind);
  if (i >= kMaxHandlers) return;
  std::lock_guard lock(mu_);
  handlers_[i] = handler ? std::make_shared<Handler>(std::move(handler)) : nullptr;
}

base::Status TransportBase::transmit_locked(NodeId to, capnp::MessageBuilder& message,
                                            const std::byte* page, SentFn sent) {
  Peer& peer = peers_[to];
  auto header = message.getRoot<schema::Message>();
  header.setSender(static_cast<uint32_t>(self_));
  header.setEpoch(epoch_);
  header.setAuthTag(is_auth(header.getBody().which()) ? 0 : peer.tag_out);
  alignas(capnp::word) std::byte head[kMaxHeadBytes];
  size_t len = TRY(encode_head(message, head));
  if (page != nullptr && !page_registered(page)) peer.counters.page_copies++;
  TRY(raw_send(to, std::span<const std::byte>(head, len), page, std::move(sent)));
  peer.counters.sent++;
  return base::ok_status();
}

base::Status TransportBase::transmit_flat_locked(NodeId to, kj::ArrayPtr<const capnp::word> flat,
                                                 const std::byte* page) {
  try {
    capnp::FlatArrayMessageReader reader(flat);
    capnp::MallocMessageBuilder message;
    message.setRoot(reader.getRoot<schema::Message>());
    return transmit_locked(to, message, page, nullptr);
  } catch (const kj::Exception& e) {
    return base::Error(std::string("re-encoding a message: ") + e.getDescription().cStr());
  }
}

base::Status TransportBase::send(NodeId to, OutMessage& message, const std::byte* page,
                                 SentFn sent) {
  if (!valid_peer(to)) return base::Error("send to an invalid node " + std::to_string(to), EINVAL);
  auto header = message.header();
  header.setType(schema::MessageType::ONEWAY);
  header.setRequestId(0);
  {
    std::lock_guard lock(mu_);
    Peer& peer = peers_[to];
    if (peer.authed) return transmit_locked(to, message.builder(), page, std::move(sent));
    // No session yet: keep a copy until the handshake ends.
    if (peer.queue.size() >= kQueueMaxLength) {
      peer.queue.pop_front();
      peer.counters.queue_drops++;
    }
    Queued q{capnp::messageToFlatArray(message.builder()), {}, Clock::now()};
    if (page != nullptr) q.page.assign(page, page + base::kPageSize);
    peer.queue.push_back(std::move(q));
    start_handshake_locked(to, Clock::now());
  }
  if (sent) sent();
  return base::ok_status();
}

base::Status TransportBase::raw_send_pages(NodeId, std::span<const std::byte>,
                                           std::span<const std::byte* const>) {
  return base::Error("this transport sends no runs of pages", EOPNOTSUPP);
}

base::Status TransportBase::send_pages(NodeId to, OutMessage& message,
                                       std::span<const std::byte* const> pages) {
  if (pages.size() <= 1) return send(to, message, pages.empty() ? nullptr : pages[0]);
  if (!valid_peer(to)) return base::Error("send to an invalid node " + std::to_string(to), EINVAL);
  if (pages.size() > kMaxRunPages) return base::Error("run longer than kMaxRunPages", EMSGSIZE);
  auto header = message.header();
  header.setType(schema::MessageType::ONEWAY);
  header.setRequestId(0);
  std::lock_guard lock(mu_);
  Peer& peer = peers_[to];
  // Runs do not wait for a handshake: the caller sends the pieces, which do.
  if (!peer.authed) return base::Error("no session with the peer yet", EAGAIN);
  header.setSender(static_cast<uint32_t>(self_));
  header.setEpoch(epoch_);
  header.setAuthTag(peer.tag_out);
  alignas(capnp::word) std::byte head[kMaxHeadBytes];
  size_t len = TRY(encode_head(message.builder(), head));
  TRY(raw_send_pages(to, std::span<const std::byte>(head, len), pages));
  peer.counters.sent++;
  return base::ok_status();
}

void TransportBase::request(NodeId to, OutMessage& message, const std::byte* page,
                            RequestOptions options, ResponseFn done) {
  if (!valid_peer(to)) {
    done(base::Error("request to an invalid node " + std::to_string(to), EINVAL));
    return;
  }
  auto now = Clock::now();
  std::lock_guard lock(mu_);
  uint64_t id = next_request_id_++;
  auto header = message.header();
  header.setType(schema::MessageType::REQUEST);
  header.setRequestId(id);
  Pending p;
  p.to = to;
  p.page = page;
  p.timeout = options.timeout;
  p.attempts_left = options.retries;
  p.attempts = 1;
  p.deadline = now + options.timeout;
  p.done = std::move(done);
  Peer& peer = peers_[to];
  if (peer.authed) {
    // A failed send is retried by the timer like a lost one.
    p.sent = true;
    auto st = transmit_locked(to, message.builder(), page, nullptr);
    if (!st.ok()) SPDLOG_DEBUG("request to {}: {}", names_[to], st.error().message());
  } else {
    start_handshake_locked(to, now);
  }
  // Kept for retries; a header is small, so the copy is cheap.
  p.flat = capnp::messageToFlatArray(message.builder());
  pending_.emplace(id, std::move(p));
}

base::Status TransportBase::respond(const Incoming& request, OutMessage& message,
                                    const std::byte* page, SentFn sent) {
  if (!valid_peer(request.from)) return base::Error("respond to an invalid node", EINVAL);
  auto header = message.header();
  header.setType(schema::MessageType::RESPONSE);
  header.setRequestId(request.header.getRequestId());
  std::lock_guard lock(mu_);
  if (!peers_[request.from].authed) {
    return base::Error("respond: peer " + names_[request.from] + " is no longer authenticated",
                       ENOTCONN);
  }
  return transmit_locked(request.from, message.builder(), page, std::move(sent));
}

void TransportBase::forget_peer(NodeId id) {
  if (!valid_peer(id)) return;
  std::lock_guard lock(mu_);
  Peer& peer = peers_[id];
  peer.authed = false;
  peer.tag_in = peer.tag_out = 0;
  peer.initiating = false;
  peer.responding = false;
}

bool TransportBase::authenticated(NodeId id) const {
  if (!valid_peer(id)) return false;
  std::lock_guard lock(mu_);
  return peers_[id].authed;
}

Counters TransportBase::counters() const {
  std::lock_guard lock(mu_);
  Counters total = unattributed_;
  for (const Peer& p : peers_) total += p.counters;
  return total;
}

Counters TransportBase::peer_counters(NodeId id) const {
  if (!valid_peer(id)) return {};
  std::lock_guard lock(mu_);
  return peers_[id].counters;
}

void TransportBase::count_send_error(NodeId to) {
  std::lock_guard lock(mu_);
  if (to >= 0 && to < size()) peers_[to].counters.send_errors++;
}

void TransportBase::count_malformed() {
  std::lock_guard lock(mu_);
  unattributed_.rejected_malformed++;
}

void TransportBase::on_receive(const std::byte* data, size_t len) {
  auto view = parse_frame(data, len);
  if (!view.ok()) {
    std::lock_guard lock(mu_);
    unattributed_.rejected_malformed++;
    SPDLOG_DEBUG("dropped a frame: {}", view.error().message());
    return;
  }
  try {
    capnp::FlatArrayMessageReader reader(
        kj::ArrayPtr<const capnp::word>(view->header.data(), view->header.size()),
        header_reader_options());
    auto header = reader.getRoot<schema::Message>();
    // Walk the whole header now, so a malformed one fails here and not in
    // the middle of a handler.
    (void)header.totalSize();
    dispatch(header, view->page, view->page_count);
  } catch (const kj::Exception& e) {
    // From the header walk, or from a handler reading a field it did not
    // validate: either way the frame is bad, not the node.
    std::lock_guard lock(mu_);
    unattributed_.rejected_malformed++;
    SPDLOG_DEBUG("dropped a malformed header: {}", e.getDescription().cStr());
  } catch (const std::exception& e) {
    // A handler's bug must not take the progress thread (and the node) down.
    spdlog::error("a message handler failed: {}", e.what());
  }
}

void TransportBase::dispatch(schema::Message::Reader header, const std::byte* page,
                             size_t page_count) {
  uint32_t sender = header.getSender();
  auto kind = header.getBody().which();
  auto type = header.getType();
  if (sender >= names_.size() || static_cast<NodeId>(sender) == self_ ||
      type > schema::MessageType::RESPONSE) {
    std::lock_guard lock(mu_);
    unattributed_.rejected_malformed++;
    return;
  }
  NodeId from = static_cast<NodeId>(sender);
  if (is_auth(kind)) {
    handle_auth(from, header);
    return;
  }
  Incoming in{from, header, page, page_count};
  std::unique_lock lock(mu_);
  Peer& peer = peers_[from];
  if (!peer.authed || header.getAuthTag() != peer.tag_in) {
    peer.counters.rejected_unauthenticated++;
    // The peer believes it has a session we do not (we restarted or forgot
    // it): offer a new handshake, at most once per kHelloRetry.
    start_handshake_locked(from, Clock::now());
    return;
  }
  if (header.getEpoch() != peer.epoch) {
    peer.counters.rejected_stale++;
    return;
  }
  if (type == schema::MessageType::RESPONSE) {
    auto it = pending_.find(header.getRequestId());
    if (it == pending_.end() || it->second.to != from) {
      peer.counters.unexpected++;  // late (after a retry or a timeout) or bogus
      return;
    }
    ResponseFn done = std::move(it->second.done);
    pending_.erase(it);
    peer.counters.received++;
    lock.unlock();
    done(&in);
    return;
  }
  size_t slot = static_cast<size_t>(kind);
  std::shared_ptr<Handler> handler = slot < kMaxHandlers ? handlers_[slot] : nullptr;
  if (!handler) {
    peer.counters.unexpected++;
    return;
  }
  peer.counters.received++;
  lock.unlock();
  (*handler)(in);
}

// --- authentication (rpc/PROTOCOL.md, "Handshake") ---

void TransportBase::start_handshake_locked(NodeId to, Clock::time_point now) {
  Peer& peer = peers_[to];
  if (now - peer.hello_sent < kHelloRetry) return;
  // While answering the peer's own handshake, let that one finish first.
  if (peer.responding && now - peer.resp_started < kHelloRetry) return;
  if (!peer.initiating) peer.my_nonce = auth::fresh_nonce();  // retries reuse it
  peer.initiating = true;
  send_hello_locked(to, now);
}

void TransportBase::send_hello_locked(NodeId to, Clock::time_point now) {
  Peer& peer = peers_[to];
  peer.hello_sent = now;
  capnp::MallocMessageBuilder message(64);
  auto header = message.initRoot<schema::Message>();
  header.setType(schema::MessageType::ONEWAY);
  auto hello = header.initBody().initHello();
  hello.setName(names_[self_]);
  hello.setNonce(data_of(peer.my_nonce));
  auto st = transmit_locked(to, message, nullptr, nullptr);
  if (!st.ok()) SPDLOG_DEBUG("hello to {}: {}", names_[to], st.error().message());
}

void TransportBase::handle_auth(NodeId from, schema::Message::Reader header) {
  std::unique_lock lock(mu_);
  bool restarted = false;
  switch (header.getBody().which()) {
    case BodyKind::HELLO:
      on_hello(from, header);
      break;
    case BodyKind::CHALLENGE:
      restarted = on_challenge(from, header);
      break;
    case BodyKind::PROOF:
      restarted = on_proof(from, header);
      break;
    default:
      break;
  }
  if (restarted) events_.emplace_back(from, Incarnation::kPeerRestarted);
  std::shared_ptr<RestartFn> observer = restart_observer_;
  if (!observer || events_.empty()) return;  // set_restart_observer reports them
  std::vector<std::pair<NodeId, Incarnation>> events;
  events.swap(events_);
  lock.unlock();
  // Still on the progress thread: the messages of the session that told us,
  // which come after its handshake, are dispatched after this returns.
  for (auto [peer, what] : events) (*observer)(peer, what);
}

void TransportBase::told_locked(NodeId by, Incarnation what) {
  bool& once = what == Incarnation::kSelfRestarted ? told_restarted_ : told_dead_;
  if (once) return;
  once = true;
  events_.emplace_back(by, what);
  if (what == Incarnation::kSelfRestarted) {
    spdlog::warn(
        "peer {} knew an earlier incarnation of this node: this node restarted while its "
        "cluster ran, and what that incarnation held is gone",
        names_[by]);
  } else {
    spdlog::error(
        "peer {} declared this node dead (silent too long) and gave up what it held; it "
        "refuses this process for good",
        names_[by]);
  }
}

void TransportBase::set_restart_observer(RestartFn observer) {
  std::unique_lock lock(mu_);
  restart_observer_ = observer ? std::make_shared<RestartFn>(std::move(observer)) : nullptr;
  // Learned before anyone listened (a peer's handshake can come before the
  // node has made what observes it): report it now.
  std::shared_ptr<RestartFn> now = restart_observer_;
  if (!now || events_.empty()) return;
  std::vector<std::pair<NodeId, Incarnation>> events;
  events.swap(events_);
  lock.unlock();
  for (auto [peer, what] : events) (*now)(peer, what);
}

void TransportBase::declare_dead(NodeId id) {
  if (!valid_peer(id)) return;
  std::lock_guard lock(mu_);
  Peer& peer = peers_[id];
  if (peer.known_epoch != 0) peer.dead_epoch = peer.known_epoch;
  peer.authed = false;
  peer.tag_in = peer.tag_out = 0;
  peer.initiating = false;
  peer.responding = false;
  peer.counters.queue_drops += peer.queue.size();
  peer.queue.clear();
}

bool TransportBase::session_up_locked(NodeId from, uint64_t epoch) {
  Peer& peer = peers_[from];
  const bool restarted = peer.known_epoch != 0 && peer.known_epoch != epoch;
  peer.epoch = epoch;
  peer.known_epoch = epoch;
  if (restarted) {
    spdlog::info("peer {} restarted (a new incarnation): what it held is gone", names_[from]);
    peer.counters.restarts++;
    // Queued for the incarnation that died; the new one never knew it.
    peer.counters.queue_drops += peer.queue.size();
    peer.queue.clear();
  }
  flush_locked(from);
  return restarted;
}

void TransportBase::auth_failed_locked(NodeId from, const char* why) {
  Peer& peer = peers_[from];
  peer.counters.auth_failures++;
  auto now = Clock::now();
  // A peer with the wrong secret retries every kHelloRetry; log it rarely.
  if (peer.last_failure_log == Clock::time_point() ||
      now - peer.last_failure_log > std::chrono::seconds(10)) {
    peer.last_failure_log = now;
    spdlog::warn("peer {} failed authentication: {} (wrong cluster secret?); refused", names_[from],
                 why);
  }
}

void TransportBase::on_hello(NodeId from, schema::Message::Reader header) {
  Peer& peer = peers_[from];
  auto hello = header.getBody().getHello();
  auth::Nonce nonce;
  if (!to_nonce(hello.getNonce(), nonce)) {
    peer.counters.rejected_malformed++;
    return;
  }
  if (hello.getName() != names_[from]) {
    auth_failed_locked(from, "its name does not match the node index it claims");
    return;
  }
  // Both sides started at once: the lower index's handshake wins. Our Hello
  // may have been lost (the peer was not up yet), so send it again now.
  if (peer.initiating && !peer.authed && self_ < from) {
    send_hello_locked(from, Clock::now());
    return;
  }
  if (declared_dead_locked(from, header.getEpoch())) {
    // An incarnation we declared dead: a Challenge with our proof (so it can
    // trust it) saying so, and no session.
    peer.counters.fenced++;
    auto nonce_out = auth::fresh_nonce();
    auto proof = keys_.responder_proof(names_[self_], names_[from], nonce, nonce_out);
    capnp::MallocMessageBuilder message(64);
    auto out = message.initRoot<schema::Message>();
    out.setType(schema::MessageType::ONEWAY);
    auto challenge = out.initBody().initChallenge();
    challenge.setName(names_[self_]);
    challenge.setNonce(data_of(nonce_out));
    challenge.setProof(data_of(proof));
    challenge.setDeclaredDead(true);
    (void)transmit_locked(from, message, nullptr, nullptr);
    return;
  }
  peer.initiating = false;
  // A retried Hello gets the same Challenge, so both ends stay in step.
  bool repeat =
      peer.responding && peer.their_nonce == nonce && peer.resp_epoch == header.getEpoch();
  if (!repeat) {
    peer.responding = true;
    peer.their_nonce = nonce;
    peer.resp_nonce = auth::fresh_nonce();
    peer.resp_epoch = header.getEpoch();
    peer.resp_started = Clock::now();
  }
  auto proof = keys_.responder_proof(names_[self_], names_[from], nonce, peer.resp_nonce);
  capnp::MallocMessageBuilder message(64);
  auto out = message.initRoot<schema::Message>();
  out.setType(schema::MessageType::ONEWAY);
  auto challenge = out.initBody().initChallenge();
  challenge.setName(names_[self_]);
  challenge.setNonce(data_of(peer.resp_nonce));
  challenge.setProof(data_of(proof));
  challenge.setRejoin(peer.known_epoch != 0 && peer.known_epoch != header.getEpoch());
  auto st = transmit_locked(from, message, nullptr, nullptr);
  if (!st.ok()) SPDLOG_DEBUG("challenge to {}: {}", names_[from], st.error().message());
}

bool TransportBase::on_challenge(NodeId from, schema::Message::Reader header) {
  Peer& peer = peers_[from];
  if (!peer.initiating) {
    peer.counters.unexpected++;  // a duplicate, or for a handshake we gave up
    return false;
  }
  auto challenge = header.getBody().getChallenge();
  auth::Nonce their_nonce;
  if (!to_nonce(challenge.getNonce(), their_nonce)) {
    peer.counters.rejected_malformed++;
    return false;
  }
  auto expected = keys_.responder_proof(names_[from], names_[self_], peer.my_nonce, their_nonce);
  bool good = challenge.getName() == names_[from] &&
              auth::mac_equal(expected, bytes_of(challenge.getProof()));
  // The proof goes out even when the challenge failed: with differing
  // secrets it fails at the responder too, so both ends log the refusal.
  auto proof = keys_.initiator_proof(names_[self_], names_[from], peer.my_nonce, their_nonce);
  capnp::MallocMessageBuilder message(64);
  auto out = message.initRoot<schema::Message>();
  out.setType(schema::MessageType::ONEWAY);
  auto proof_body = out.initBody().initProof();
  proof_body.setProof(data_of(proof));
  const bool dead = declared_dead_locked(from, header.getEpoch());
  proof_body.setRejoin(peer.known_epoch != 0 && peer.known_epoch != header.getEpoch());
  proof_body.setDeclaredDead(dead);
  auto st = transmit_locked(from, message, nullptr, nullptr);
  if (!good) {
    peer.initiating = false;  // a new Hello after kHelloRetry, if still needed
    auth_failed_locked(from, "its challenge carries a wrong proof");
    return false;
  }
  if (dead || challenge.getDeclaredDead()) {
    peer.initiating = false;
    if (dead) {
      peer.counters.fenced++;  // our Proof told it; no session
    } else {
      told_locked(from, Incarnation::kSelfDeclaredDead);
    }
    return false;
  }
  if (!st.ok()) {
    SPDLOG_DEBUG("proof to {}: {}", names_[from], st.error().message());
    return false;  // the Hello is retried
  }
  auto tags = keys_.session_tags(names_[self_], names_[from], peer.my_nonce, their_nonce);
  bool was_authed = peer.authed;
  peer.authed = true;
  peer.tag_out = tags.initiator_to_responder;
  peer.tag_in = tags.responder_to_initiator;
  peer.initiating = false;
  peer.responding = false;
  if (!was_authed) spdlog::info("peer {} authenticated", names_[from]);
  if (challenge.getRejoin()) told_locked(from, Incarnation::kSelfRestarted);
  return session_up_locked(from, header.getEpoch());
}

bool TransportBase::on_proof(NodeId from, schema::Message::Reader header) {
  Peer& peer = peers_[from];
  if (!peer.responding) {
    peer.counters.unexpected++;
    return false;
  }
  auto expected =
      keys_.initiator_proof(names_[from], names_[self_], peer.their_nonce, peer.resp_nonce);
  if (header.getEpoch() != peer.resp_epoch ||
      !auth::mac_equal(expected, bytes_of(header.getBody().getProof().getProof()))) {
    peer.responding = false;
    auth_failed_locked(from, "its proof does not verify");
    return false;
  }
  if (header.getBody().getProof().getDeclaredDead()) {
    peer.responding = false;
    told_locked(from, Incarnation::kSelfDeclaredDead);
    return false;
  }
  auto tags = keys_.session_tags(names_[from], names_[self_], peer.their_nonce, peer.resp_nonce);
  bool was_authed = peer.authed;
  peer.authed = true;
  peer.tag_in = tags.initiator_to_responder;
  peer.tag_out = tags.responder_to_initiator;
  peer.responding = false;
  peer.initiating = false;
  if (!was_authed) spdlog::info("peer {} authenticated", names_[from]);
  if (header.getBody().getProof().getRejoin()) told_locked(from, Incarnation::kSelfRestarted);
  return session_up_locked(from, peer.resp_epoch);
}

void TransportBase::flush_locked(NodeId to) {
  Peer& peer = peers_[to];
  while (!peer.queue.empty()) {
    Queued& q = peer.queue.front();
    auto st = transmit_flat_locked(to, q.flat, q.page.empty() ? nullptr : q.page.data());
    if (!st.ok()) peer.counters.queue_drops++;
    peer.queue.pop_front();
  }
  for (auto& [id, p] : pending_) {
    if (p.to != to || p.sent) continue;
    p.sent = true;
    (void)transmit_flat_locked(to, p.flat, p.page);
  }
}

bool TransportBase::has_demand_locked(NodeId to) const {
  if (!peers_[to].queue.empty()) return true;
  for (const auto& [id, p] : pending_) {
    if (p.to == to && !p.sent) return true;
  }
  return false;
}

void TransportBase::tick() {
  auto now = Clock::now();
  std::vector<Pending> expired;
  {
    std::lock_guard lock(mu_);
    for (auto it = pending_.begin(); it != pending_.end();) {
      Pending& p = it->second;
      if (now < p.deadline) {
        ++it;
        continue;
      }
      Peer& peer = peers_[p.to];
      if (p.attempts_left > 0) {
        p.attempts_left--;
        p.attempts++;
        p.deadline = now + p.timeout;
        peer.counters.retries++;
        if (peer.authed) {
          p.sent = true;
          (void)transmit_flat_locked(p.to, p.flat, p.page);
        } else {
          p.sent = false;
        }
        ++it;
      } else {
        peer.counters.timeouts++;
        expired.push_back(std::move(p));
        it = pending_.erase(it);
      }
    }
    for (NodeId id = 0; id < size(); ++id) {
      if (id == self_) continue;
      Peer& peer = peers_[id];
      while (!peer.queue.empty() && now - peer.queue.front().queued_at > kQueueMaxAge) {
        peer.queue.pop_front();
        peer.counters.queue_drops++;
      }
      if (!peer.authed && has_demand_locked(id)) start_handshake_locked(id, now);
    }
  }
  for (Pending& p : expired) {
    p.done(base::Error("request to " + names_[p.to] + " timed out after " +
                           std::to_string(p.attempts) + " attempt(s)",
                       ETIMEDOUT));
  }
}

void TransportBase::close() {
  std::unordered_map<uint64_t, Pending> pending;
  {
    std::lock_guard lock(mu_);
    pending.swap(pending_);
  }
  for (auto& [id, p] : pending) p.done(base::Error("transport closed", ESHUTDOWN));
}

}  // namespace rpc
