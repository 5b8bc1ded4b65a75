#include "rpc/auth.h"

#include <gtest/gtest.h>

namespace rpc::auth {
namespace {

TEST(Auth, HandshakeWithTheSameSecretAgrees) {
  auto a = Keys::Create("cluster secret").value();
  auto b = Keys::Create("cluster secret").value();
  Nonce ni = fresh_nonce(), nr = fresh_nonce();
  EXPECT_NE(ni, nr);
  // The initiator checks the responder's proof, and the other way round.
  Mac from_responder = b.responder_proof("n1", "n0", ni, nr);
  EXPECT_TRUE(mac_equal(a.responder_proof("n1", "n0", ni, nr), from_responder));
  Mac from_initiator = a.initiator_proof("n0", "n1", ni, nr);
  EXPECT_TRUE(mac_equal(b.initiator_proof("n0", "n1", ni, nr), from_initiator));
  auto ta = a.session_tags("n0", "n1", ni, nr);
  auto tb = b.session_tags("n0", "n1", ni, nr);
  EXPECT_EQ(ta.initiator_to_responder, tb.initiator_to_responder);
  EXPECT_EQ(ta.responder_to_initiator, tb.responder_to_initiator);
  EXPECT_NE(ta.initiator_to_responder, ta.responder_to_initiator);
  EXPECT_NE(ta.initiator_to_responder, 0u);
}

TEST(Auth, WrongSecretFails) {
  auto a = Keys::Create("cluster secret").value();
  auto evil = Keys::Create("guessed secret").value();
  Nonce ni = fresh_nonce(), nr = fresh_nonce();
  EXPECT_FALSE(
      mac_equal(a.responder_proof("n1", "n0", ni, nr), evil.responder_proof("n1", "n0", ni, nr)));
  EXPECT_FALSE(
      mac_equal(a.initiator_proof("n0", "n1", ni, nr), evil.initiator_proof("n0", "n1", ni, nr)));
}

TEST(Auth, ProofsAreBoundToNamesNoncesAndDirection) {
  auto k = Keys::Create("s").value();
  Nonce ni = fresh_nonce(), nr = fresh_nonce();
  Mac m = k.responder_proof("n1", "n0", ni, nr);
  EXPECT_FALSE(mac_equal(k.responder_proof("n2", "n0", ni, nr), m));             // other responder
  EXPECT_FALSE(mac_equal(k.responder_proof("n1", "n2", ni, nr), m));             // other initiator
  EXPECT_FALSE(mac_equal(k.responder_proof("n1", "n0", fresh_nonce(), nr), m));  // replay
  EXPECT_FALSE(mac_equal(k.responder_proof("n1", "n0", ni, fresh_nonce()), m));
  // The initiator's proof is not the responder's with the names swapped.
  EXPECT_FALSE(mac_equal(k.initiator_proof("n1", "n0", ni, nr), m));
  // Length-prefixed fields: "n1"+"n0" differs from "n1n"+"0".
  EXPECT_FALSE(mac_equal(k.responder_proof("n1n", "0", ni, nr), m));
}

TEST(Auth, MacEqualChecksLength) {
  auto k = Keys::Create("s").value();
  Mac m = k.responder_proof("a", "b", fresh_nonce(), fresh_nonce());
  EXPECT_TRUE(mac_equal(m, m));
  EXPECT_FALSE(mac_equal(m, std::span<const uint8_t>(m.data(), m.size() - 1)));
}

}  // namespace
}  // namespace rpc::auth
