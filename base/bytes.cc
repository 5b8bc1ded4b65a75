#include "base/bytes.h"

#include <charconv>

#include <fmt/format.h>

namespace base {

StatusOr<uint64_t> parse_size(std::string_view text) {
  uint64_t number = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, number);
  if (ec == std::errc::result_out_of_range) return Error(fmt::format("size \"{}\" is too large", text), EINVAL);
  if (ec != std::errc() || ptr == begin) {
    return Error(fmt::format("\"{}\" is not a size (expected e.g. \"512MiB\", \"8GiB\")", text), EINVAL);
  }
  std::string_view unit(ptr, static_cast<size_t>(end - ptr));
  unsigned shift = 0;
  if (unit.empty() || unit == "B") shift = 0;
  else if (unit == "K" || unit == "KiB") shift = 10;
  else if (unit == "M" || unit == "MiB") shift = 20;
  else if (unit == "G" || unit == "GiB") shift = 30;
  else if (unit == "T" || unit == "TiB") shift = 40;
  else {
    return Error(fmt::format("\"{}\" has an unknown unit \"{}\" (use B, KiB, MiB, GiB or TiB)", text, unit),
                 EINVAL);
  }
  if (number == 0) return Error(fmt::format("size \"{}\" must be greater than zero", text), EINVAL);
  if (shift && number > (UINT64_MAX >> shift)) return Error(fmt::format("size \"{}\" is too large", text), EINVAL);
  return number << shift;
}

std::string format_size(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (unit < 4 && bytes >= (uint64_t{1} << (10 * (unit + 1)))) ++unit;
  uint64_t scale = uint64_t{1} << (10 * unit);
  if (bytes % scale == 0) return fmt::format("{} {}", bytes / scale, kUnits[unit]);
  return fmt::format("{:.1f} {}", static_cast<double>(bytes) / static_cast<double>(scale), kUnits[unit]);
}

}  // namespace base
