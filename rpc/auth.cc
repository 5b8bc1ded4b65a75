#include "rpc/auth.h"

#include <cstring>
#include <string>

namespace rpc::auth {

base::StatusOr<Keys> Keys::Create(std::string_view secret) {
  if (sodium_init() < 0) return base::Error("libsodium failed to initialise");
  Keys keys;
  static constexpr char kContext[] = "pangaea cluster key v1";
  crypto_generichash(keys.key_.data(), keys.key_.size(),
                     reinterpret_cast<const uint8_t*>(secret.data()), secret.size(),
                     reinterpret_cast<const uint8_t*>(kContext), sizeof(kContext) - 1);
  return keys;
}

// Every field is length-prefixed so that no two different inputs
// concatenate to the same bytes ("ab"+"c" vs "a"+"bc").
Mac Keys::mac(std::string_view label, std::string_view a, std::string_view b, const Nonce& n1,
              const Nonce& n2) const {
  std::string input;
  auto put = [&input](const void* data, size_t len) {
    uint32_t n = static_cast<uint32_t>(len);
    input.append(reinterpret_cast<const char*>(&n), sizeof(n));
    input.append(static_cast<const char*>(data), len);
  };
  put(label.data(), label.size());
  put(a.data(), a.size());
  put(b.data(), b.size());
  put(n1.data(), n1.size());
  put(n2.data(), n2.size());
  Mac out;
  crypto_auth(out.data(), reinterpret_cast<const uint8_t*>(input.data()), input.size(),
              key_.data());
  return out;
}

Mac Keys::responder_proof(std::string_view responder, std::string_view initiator,
                          const Nonce& initiator_nonce, const Nonce& responder_nonce) const {
  return mac("pangaea responder proof v1", responder, initiator, initiator_nonce, responder_nonce);
}

Mac Keys::initiator_proof(std::string_view initiator, std::string_view responder,
                          const Nonce& initiator_nonce, const Nonce& responder_nonce) const {
  return mac("pangaea initiator proof v1", initiator, responder, initiator_nonce, responder_nonce);
}

SessionTags Keys::session_tags(std::string_view initiator, std::string_view responder,
                               const Nonce& initiator_nonce, const Nonce& responder_nonce) const {
  Mac m = mac("pangaea session tags v1", initiator, responder, initiator_nonce, responder_nonce);
  SessionTags tags;
  std::memcpy(&tags.initiator_to_responder, m.data(), 8);
  std::memcpy(&tags.responder_to_initiator, m.data() + 8, 8);
  // Zero marks handshake messages, so a session tag is never zero.
  if (tags.initiator_to_responder == 0) tags.initiator_to_responder = 1;
  if (tags.responder_to_initiator == 0) tags.responder_to_initiator = 1;
  return tags;
}

Nonce fresh_nonce() {
  Nonce n;
  randombytes_buf(n.data(), n.size());
  return n;
}

bool mac_equal(const Mac& expected, std::span<const uint8_t> got) {
  if (got.size() != expected.size()) return false;
  return sodium_memcmp(expected.data(), got.data(), expected.size()) == 0;
}

}  // namespace rpc::auth
