# Data-plane message header. One libfabric message carries one of these
# (flat-array serialized) plus at most one 4 KiB page; see rpc/PROTOCOL.md.
@0xfd421b754efb8bb1;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("rpc::schema");

enum MessageType {
  oneway @0;    # fire and forget
  request @1;   # the receiver answers with a response carrying the same requestId
  response @2;  # answer to a request
}

struct Hello {
  # Opens a handshake: "I am `name`, prove you know the secret over `nonce`".
  name @0 :Text;
  nonce @1 :Data;       # 32 fresh random bytes
}

struct Challenge {
  # The responder's answer: its own proof over the initiator's nonce and a
  # fresh nonce of its own for the initiator to answer.
  name @0 :Text;
  nonce @1 :Data;       # 32 fresh random bytes
  proof @2 :Data;       # crypto_auth over (responder, initiator, both nonces)
  rejoin @3 :Bool;      # the responder had a session with an earlier incarnation
                        # of the initiator: the initiator restarted (see Proof)
  declaredDead @4 :Bool;  # the responder declared this incarnation of the
                          # initiator dead: no session, ever (rpc/PROTOCOL.md)
}

struct Proof {
  # The initiator's proof over the responder's nonce; ends the handshake.
  proof @0 :Data;
  rejoin @1 :Bool;      # the initiator had a session with an earlier incarnation
                        # of the responder: the responder restarted, and learns it
                        # here, before any other message of this session
  declaredDead @2 :Bool;  # the initiator declared this incarnation of the
                          # responder dead: no session, ever
}

struct Heartbeat {
  memoryGiven @0 :UInt64;  # bytes the sender contributes
  memoryUsed @1 :UInt64;   # bytes of that in use
  sendTimeNs @2 :UInt64;   # sender's monotonic clock, echoed in the ack
}

struct HeartbeatAck {
  memoryGiven @0 :UInt64;
  memoryUsed @1 :UInt64;
  sendTimeNs @2 :UInt64;   # the Heartbeat's sendTimeNs, for the RTT
}

struct Echo {
  # Benchmarks: the receiver answers with the same data (and page, if any).
  data @0 :Data;
  sequence @1 :UInt64;
}

struct Message {
  type @0 :MessageType;
  requestId @1 :UInt64;  # 0 for oneway; a response repeats its request's id
  frame @2 :UInt64;      # guest frame number the message is about (DSM), else 0
  sender @3 :UInt32;     # index of the sender in ClusterConfig.nodes
  epoch @4 :UInt64;      # the sender's incarnation (random per process start)
  authTag @5 :UInt64;    # session tag from the handshake; 0 on handshake messages

  body :union {
    none @6 :Void;
    hello @7 :Hello;
    challenge @8 :Challenge;
    proof @9 :Proof;
    heartbeat @10 :Heartbeat;
    heartbeatAck @11 :HeartbeatAck;
    echo @12 :Echo;
    # Reserved for the DSM coherence protocols, which are not written yet:
    # they will add their own members to this union (ordinals continue from
    # @14); until then a protocol may carry its own encoding here.
    dsm @13 :Data;
    coherence @14 :Coherence;
    # Several coherence messages in one frame (a run), in order; each names
    # its own frame. The frame carries either no page, or one page per
    # element, element i's page being the i-th (rpc/PROTOCOL.md "Runs").
    coherenceRun @15 :List(Coherence);
  }
}

struct Coherence {
  # One DSM coherence message (dsm/protocol/message.h), always oneway: the
  # protocols retry on their own timers. The header's `frame` is the frame,
  # its `sender` the hop's sender; the page, if any, travels beside the
  # header (has_page = a page is present). See rpc/PROTOCOL.md "DSM coherence".
  msgType @0 :UInt8;      # dsm::protocol::MsgType, 1..15 (14, 15: Claim, ClaimReply)
  requester @1 :UInt16;   # requests and claims: the node that asked (0xffff: none);
                          # a ClaimReply: the frame's home (first-touch placement)
  version @2 :UInt32;     # the frame's ownership epoch (not the header's epoch)
  req @3 :UInt64;         # the requester's request id
  copyset @4 :UInt64;     # bitset of nodes (grants and hand-backs, ivy-dynamic)
  hasCopy @5 :Bool;       # requests: the requester holds a Shared copy
  region @6 :UInt32;      # which region of the node the frame belongs to
  frame @7 :UInt64;       # in a coherenceRun only: the element's frame
}
