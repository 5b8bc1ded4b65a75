#include "base/result.h"

#include <gtest/gtest.h>

namespace base {
namespace {

Result<int> half(int x) {
  if (x % 2) return Errno(EINVAL);
  return x / 2;
}

Result<int> quarter(int x) {
  int h = TRY(half(x));
  return TRY(half(h));
}

Status check_positive(int x) {
  if (x <= 0) return Error("not positive", ERANGE);
  return {};
}

StatusOr<int> checked_quarter(int x) {
  TRY(check_positive(x));
  return TRY(quarter(x));  // Errno converts to Error
}

TEST(Result, ValueAndError) {
  EXPECT_EQ(*quarter(8), 2);
  EXPECT_FALSE(quarter(6).ok());
  EXPECT_EQ(quarter(6).error().code, EINVAL);
}

TEST(Result, StatusCarriesMessage) {
  auto r = checked_quarter(-4);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "not positive");
  EXPECT_EQ(r.error().code(), ERANGE);
  auto e = checked_quarter(6);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code(), EINVAL);
  EXPECT_EQ(*checked_quarter(12), 3);
}

}  // namespace
}  // namespace base
