#pragma once
// Result<T, E>: a value or an error, never an exception across a module
// boundary. Two error types are used in the project:
//  - Errno: a bare Linux errno, for the guest kernel's syscall paths (cheap).
//  - Error: an errno-like code plus a message, for dsm/, rpc/, node/ and
//    tools/, where the message is what a person reads.
// TRY(expr) unwraps a Result or returns its error from the enclosing function
// (a GNU statement expression, as SerenityOS's TRY).

#include <cerrno>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace base {

struct Errno {
  int code;
  constexpr explicit Errno(int c) : code(c) {}
  static Errno last() { return Errno(errno); }
  bool operator==(const Errno&) const = default;
};

class Error {
 public:
  explicit Error(std::string message, int code = EIO) : message_(std::move(message)), code_(code) {}
  Error(Errno e) : message_(std::strerror(e.code)), code_(e.code) {}  // NOLINT: implicit on purpose
  // "what: strerror(errno)", the usual form after a failed host call.
  static Error from_errno(std::string_view what, int err = errno) {
    return Error(std::string(what) + ": " + std::strerror(err), err);
  }
  const std::string& message() const { return message_; }
  int code() const { return code_; }

 private:
  std::string message_;
  int code_;
};

template <class T, class E = Errno>
class [[nodiscard]] Result {
 public:
  template <class U = T, std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                              !std::is_same_v<std::decay_t<U>, Result>,
                                          int> = 0>
  Result(U&& value) : v_(std::in_place_index<0>, std::forward<U>(value)) {}  // NOLINT
  Result(E error) : v_(std::in_place_index<1>, std::move(error)) {}         // NOLINT
  template <class F, std::enable_if_t<!std::is_same_v<F, E> && std::is_constructible_v<E, F> &&
                                          !std::is_constructible_v<T, F>,
                                      int> = 0>
  Result(F error) : v_(std::in_place_index<1>, E(std::move(error))) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const E& error() const& { return std::get<1>(v_); }
  E&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, E> v_;
};

template <class E>
class [[nodiscard]] Result<void, E> {
 public:
  Result() = default;
  Result(E error) : error_(std::move(error)), ok_(false) {}  // NOLINT
  template <class F, std::enable_if_t<!std::is_same_v<F, E> && std::is_constructible_v<E, F>, int> = 0>
  Result(F error) : error_(E(std::move(error))), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  void value() const {}
  const E& error() const& { return error_; }
  E&& error() && { return std::move(error_); }

 private:
  E error_{default_error()};
  bool ok_ = true;
  static E default_error() {
    if constexpr (std::is_same_v<E, Error>) return Error("");
    else return E(0);
  }
};

using Status = Result<void, Error>;
template <class T>
using StatusOr = Result<T, Error>;

inline Status ok_status() { return {}; }

}  // namespace base

#define TRY(expr)                                      \
  ({                                                   \
    auto _try_result = (expr);                         \
    if (!_try_result.ok()) {                           \
      return std::move(_try_result).error();           \
    }                                                  \
    std::move(_try_result).value();                    \
  })
