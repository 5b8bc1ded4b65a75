#pragma once
// The attach socket's listener (CONTROL.md, "Attach"): a unix socket, mode
// 0600 (owner: the node's user), whose connections run
// Cap'n Proto RPC with file descriptor passing. Each connection's bootstrap
// is an Attach bound to the peer's SO_PEERCRED credentials; a peer whose uid
// is neither the node's nor root gets every call refused with EACCES. When a
// connection closes (the client detached, exited or was killed) everything
// it held is released, which detaches its mappings.
//
// Internal to rpc/control: created and destroyed on the control server's
// thread, inside its kj event loop.

#include <string>

#include <kj/async-io.h>

#include "base/result.h"
#include "rpc/control/attach_types.h"

namespace rpc::control {

class AttachListener {
 public:
  // Binds `path` (replacing a stale socket of ours) and starts accepting on
  // `io`'s loop.
  static base::StatusOr<kj::Own<AttachListener>> Create(kj::AsyncIoContext& io,
                                                        const std::string& path,
                                                        ControlHandler& handler,
                                                        RegionService& regions);
  virtual ~AttachListener() noexcept(false) = default;
};

}  // namespace rpc::control
