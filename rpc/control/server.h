#pragma once
// The control plane server: Cap'n Proto RPC (rpc/schema/control.capnp) on a
// TCP "host:port" or a "unix:/path" socket, answering from a ControlHandler.
//
// Threads: the server runs its own thread with its own kj event loop; all
// RPC handling, and so every ControlHandler call, happens there. Create() and
// the destructor are called from one owning thread; the destructor stops the
// loop (through a cross-thread fulfiller) and joins the thread.

#include <memory>
#include <string>
#include <thread>

#include "base/result.h"
#include "rpc/control/control_types.h"

namespace rpc::control {

class ControlServer {
 public:
  // Binds `address` and starts serving; an error (bad address, port in use)
  // is returned before any thread is left running. `handler` must outlive
  // the server. A stale unix socket file at the path is replaced.
  static base::StatusOr<std::unique_ptr<ControlServer>> Create(const std::string& address,
                                                               ControlHandler& handler);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  const std::string& address() const { return address_; }

 private:
  struct Loop;  // lives on the server thread
  explicit ControlServer(std::string address);

  std::string address_;
  std::unique_ptr<Loop> loop_;
  std::thread thread_;
};

}  // namespace rpc::control
