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

# --- DSM clients (the attach socket; see rpc/control/CONTROL.md, "Attach") ---
#
# Served only on a node's attach socket: a unix socket (mode 0600) whose
# connections carry file descriptors (SCM_RIGHTS), each peer's uid checked
# with SO_PEERCRED. On the control address these calls fail.

# A capability whose content is the file descriptor sent with it (Cap'n
# Proto attaches the fd of a capability whose server has one to the message
# that carries it). It has no methods.
interface FileDescriptor {}

struct RegionInfo {
  name @0 :Text;             # "guest": the guest-RAM region every node serves
  frames @1 :UInt64;         # 4 KiB frames
  frameSize @2 :UInt32;      # 4096
  protocol @3 :Text;         # "msi-home" | "ivy-dynamic"
  node @4 :Text;             # the serving node's name
}

# A client's attachment of its mapping: dropping it (or closing the
# connection, or the client dying) detaches the mapping.
interface Attachment {
  # Detaches now and answers once the node no longer serves the mapping.
  detach @0 () -> ();
}

interface Region {
  # Hands over the client's userfaultfd (fresh: no UFFDIO_API done yet) for
  # its MAP_SHARED mapping of frames [first, first+count) of `memfd` at
  # `address`; the node registers it (MISSING | WP) and serves its faults.
  attach @0 (uffd :FileDescriptor, address :UInt64, first :UInt64, count :UInt64)
      -> (attachment :Attachment);
  # The region's counters (group "region"), as in Control.stats().
  stats @1 () -> (stats :Stats);
}

interface Attach extends(Control) {
  # Opens the region named `name`; `memfd` carries the node's frame memfd
  # (frame f at offset f * frameSize), to be mapped MAP_SHARED.
  openRegion @0 (name :Text) -> (region :Region, info :RegionInfo, memfd :FileDescriptor);
}
