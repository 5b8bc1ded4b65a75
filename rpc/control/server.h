#pragma once
// The control plane server: Cap'n Proto RPC (rpc/schema/control.capnp) on a
// TCP "host:port" or a "unix:/path" socket, answering from a ControlHandler.
// Given a RegionService it also serves the node's attach socket
// (attach_socket_path(address), CONTROL.md "Attach"): a unix socket, mode
// 0600, passing file descriptors, where local processes of the node's uid
// map its DSM regions (dsm/client).
//
// Threads: the server runs its own thread with its own kj event loop; all
// RPC handling, and so every ControlHandler call, happens there. Create() and
// the destructor are called from one owning thread; the destructor stops the
// loop (through a cross-thread fulfiller) and joins the thread.

#include <memory>
#include <string>
#include <thread>

#include "base/result.h"
#include "rpc/control/attach_types.h"
#include "rpc/control/control_types.h"

namespace rpc::control {

class ControlServer {
 public:
  // Binds `address` and starts serving; an error (bad address, port in use)
  // is returned before any thread is left running. `handler` must outlive
  // the server. A stale unix socket file at the path is replaced. With
  // `regions` (which must outlive the server too) the attach socket is
  // served as well; attachments still open are detached by the destructor.
  static base::StatusOr<std::unique_ptr<ControlServer>> Create(const std::string& address,
                                                               ControlHandler& handler,
                                                               RegionService* regions = nullptr);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  const std::string& address() const { return address_; }
  // The attach socket's path, or empty when there is none.
  const std::string& attach_path() const { return attach_path_; }

 private:
  struct Loop;  // lives on the server thread
  explicit ControlServer(std::string address);

  std::string address_;
  std::string attach_path_;
  std::unique_ptr<Loop> loop_;
  std::thread thread_;
};

}  // namespace rpc::control
