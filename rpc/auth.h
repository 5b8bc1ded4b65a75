#pragma once
// Peer authentication primitives (libsodium crypto_auth = HMAC-SHA-512-256).
// The handshake that uses them is in rpc/PROTOCOL.md and transport_base.cc;
// this file only computes and checks proofs, so it is easy to test alone.

#include <sodium.h>

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "base/result.h"

namespace rpc::auth {

inline constexpr size_t kNonceBytes = 32;
using Nonce = std::array<uint8_t, kNonceBytes>;
using Mac = std::array<uint8_t, crypto_auth_BYTES>;

// Directional session tags both ends derive from one handshake.
struct SessionTags {
  uint64_t initiator_to_responder = 0;
  uint64_t responder_to_initiator = 0;
};

class Keys {
 public:
  // The HMAC key is a hash of the cluster secret (any length).
  // Fails only if libsodium cannot initialise.
  static base::StatusOr<Keys> Create(std::string_view secret);

  // The responder's proof: it knows the secret, answering the initiator's
  // fresh nonce, bound to both names and its own nonce.
  Mac responder_proof(std::string_view responder, std::string_view initiator,
                      const Nonce& initiator_nonce, const Nonce& responder_nonce) const;
  // The initiator's proof over the responder's fresh nonce.
  Mac initiator_proof(std::string_view initiator, std::string_view responder,
                      const Nonce& initiator_nonce, const Nonce& responder_nonce) const;
  SessionTags session_tags(std::string_view initiator, std::string_view responder,
                           const Nonce& initiator_nonce, const Nonce& responder_nonce) const;

 private:
  Mac mac(std::string_view label, std::string_view a, std::string_view b, const Nonce& n1,
          const Nonce& n2) const;
  std::array<uint8_t, crypto_auth_KEYBYTES> key_{};
};

Nonce fresh_nonce();
// Constant-time comparison; false if `got` has the wrong length.
bool mac_equal(const Mac& expected, std::span<const uint8_t> got);

}  // namespace rpc::auth
