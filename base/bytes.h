#pragma once
// Byte sizes: the page size and human sizes ("8GiB", "512MiB", "4096").

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace base {

inline constexpr uint64_t kPageSize = 4096;
inline constexpr unsigned kPageShift = 12;

constexpr uint64_t page_round_up(uint64_t n) { return (n + kPageSize - 1) & ~(kPageSize - 1); }
constexpr uint64_t page_round_down(uint64_t n) { return n & ~(kPageSize - 1); }

// Parses a size: a whole number followed by an optional unit, one of
// B, K/KiB, M/MiB, G/GiB, T/TiB (powers of 1024; "KB", "MB"... are refused
// because they are ambiguous). Zero and overflow are errors.
StatusOr<uint64_t> parse_size(std::string_view text);

// "8 GiB", "512 MiB", "4 KiB", "17 B": the largest unit that divides exactly,
// else one decimal of the largest unit below the value.
std::string format_size(uint64_t bytes);

}  // namespace base
