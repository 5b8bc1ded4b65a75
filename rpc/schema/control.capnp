@0x8ae4cf37b79bdc5a;
# The node control plane: Cap'n Proto RPC over TCP or a unix socket, one
# bootstrap capability of type Control per connection. See
# rpc/control/CONTROL.md.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("rpc::control::wire");

# One row of a node's membership table, as that node sees it.
struct Peer {
  name @0 :Text;
  address @1 :Text;          # data plane "host:port"
  self @2 :Bool;             # the row of the answering node itself
  up @3 :Bool;               # authenticated and heard from recently
  rttUs @4 :UInt64;          # last heartbeat round trip, microseconds (0 if unknown)
  memoryGiven @5 :UInt64;    # bytes, as last reported by that peer
  memoryUsed @6 :UInt64;
  rejected @7 :UInt64;       # messages from it refused (bad auth, malformed)
}

struct NodeStatus {
  cluster @0 :Text;
  name @1 :Text;             # the answering node
  pid @2 :UInt32;
  uptimeMs @3 :UInt64;
  memoryGiven @4 :UInt64;    # bytes this node contributes
  memoryUsed @5 :UInt64;     # bytes of it in use
  peers @6 :List(Peer);      # every node of the config, self included
}

# Counters are named, grouped rows rather than fixed fields, so a part (the
# DSM, the transport) can add its own without changing this schema.
struct Counter {
  group @0 :Text;            # "node", "membership", "peer:n1", "dsm", ...
  name @1 :Text;
  value @2 :UInt64;
}

struct Stats {
  counters @0 :List(Counter);
}

interface Control {
  status @0 () -> (status :NodeStatus);
  stats @1 () -> (stats :Stats);
  # Asks the node to stop cleanly. Returns once the request is accepted;
  # the node then closes its connections and exits.
  shutdown @2 () -> ();
}
