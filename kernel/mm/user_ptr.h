#pragma once
// UserPtr<T>: a guest address. It cannot be dereferenced; the only way to
// touch what it points at is copy_in/copy_out through the guest's
// MemoryManager, which checks the mapping and asks the DSM for the frames.

#include <cstdint>
#include <type_traits>

namespace kernel::mm {

template <class T>
class UserPtr {
 public:
  constexpr UserPtr() = default;
  constexpr explicit UserPtr(uint64_t addr) : addr_(addr) {}
  constexpr uint64_t addr() const { return addr_; }
  constexpr bool is_null() const { return addr_ == 0; }
  // The i-th element (for arrays in guest memory).
  constexpr UserPtr operator+(uint64_t i) const { return UserPtr(addr_ + i * sizeof(T)); }

 private:
  uint64_t addr_ = 0;
};

}  // namespace kernel::mm
