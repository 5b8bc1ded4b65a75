#pragma once
// Actions a protocol asks its driver (the fault engine, or a simulator) to
// carry out, in order. The protocol never touches page bytes; PageSource says
// where the bytes of a Send, Install or Store come from.

#include <cstdint>
#include <string_view>
#include <vector>

#include "dsm/protocol/message.h"
#include "dsm/protocol/types.h"

namespace dsm::protocol {

enum class PageSource : uint8_t {
  kNone = 0,
  kIncoming,  // the page carried by the message being handled
  kCache,     // this node's cached copy of the frame (the memfd): "keep what you have"
  kHome,      // this node's home copy of the frame (msi-home; the node is its home)
  kZero,      // a zero-filled page (frames start as zeros)
};

enum class ActionType : uint8_t {
  kSend,          // send `msg`; if msg.has_page attach the page from `page`
  kInstall,       // make the cached copy present with `access` (kRead:
                  // write-protected, kWrite: writable), bytes from `page`
                  // (kCache: keep the bytes, change protection only)
  kWriteProtect,  // downgrade the cached copy to read-only
  kDrop,          // invalidate the cached copy (punch it out)
  kStore,         // write the page from `page` into the home copy (msi-home)
  kComplete,      // wake local faults on `frame` that need at most `access`
  kArmTimer,      // call on_timeout(frame) after the retry interval
  kFail,          // the frame is lost on this node (a node died with its data,
                  // dsm/PROTOCOLS.md "Node failure"): every local fault on
                  // `frame`, waiting or later, fails (the driver makes the
                  // faulting thread get SIGBUS); nothing of it is cached here
};

struct Action {
  ActionType type = ActionType::kSend;
  Access access = Access::kNone;
  PageSource page = PageSource::kNone;
  FrameId frame = 0;
  Message msg;  // kSend only
};

using Actions = std::vector<Action>;

std::string_view to_string(PageSource p);
std::string_view to_string(ActionType t);

}  // namespace dsm::protocol
