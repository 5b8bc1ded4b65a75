// The control plane's wire structs (rpc/schema/control.capnp) read into the
// plain values of control_types.h. Shared by ControlClient and the DSM
// client library (dsm/client), which asks the same questions on the attach
// socket.
#pragma once

#include "rpc/control/control_types.h"
#include "rpc/schema/control.capnp.h"

namespace rpc::control {

NodeStatusInfo from_wire(wire::NodeStatus::Reader s);
StatsInfo from_wire(wire::Stats::Reader s);

}  // namespace rpc::control
