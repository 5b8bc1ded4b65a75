#pragma once
// Helpers for transport tests: synchronous request, polling for a condition.

#include <chrono>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "rpc/transport.h"

namespace rpc::testing {

// What a request came back with, copied out of the callback.
struct Reply {
  bool ok = false;
  std::string error;
  int code = 0;
  uint64_t sequence = 0;
  std::vector<std::byte> page;
};

inline Reply echo_request(Transport& t, NodeId to, uint64_t sequence, const std::byte* page,
                          RequestOptions options = {}) {
  OutMessage m;
  m.header().initBody().initEcho().setSequence(sequence);
  std::promise<Reply> promise;
  t.request(to, m, page, options, [&promise](base::StatusOr<const Incoming*> r) {
    Reply reply;
    if (r.ok()) {
      reply.ok = true;
      reply.sequence = (*r)->header.getBody().getEcho().getSequence();
      if ((*r)->page) reply.page.assign((*r)->page, (*r)->page + base::kPageSize);
    } else {
      reply.error = r.error().message();
      reply.code = r.error().code();
    }
    promise.set_value(std::move(reply));
  });
  return promise.get_future().get();
}

// Answers Echo requests with the same sequence and page.
inline void serve_echo(Transport& t) {
  t.set_handler(BodyKind::ECHO, [&t](const Incoming& in) {
    OutMessage m;
    m.header().initBody().initEcho().setSequence(in.header.getBody().getEcho().getSequence());
    (void)t.respond(in, m, in.page);
  });
}

inline bool wait_for(const std::function<bool()>& cond,
                     std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

}  // namespace rpc::testing
