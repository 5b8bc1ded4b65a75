#include "base/log.h"

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace base {

Status setup_logging(std::string_view level) {
  auto parsed = spdlog::level::from_str(std::string(level));
  if (parsed == spdlog::level::off && level != "off") {
    return Error(fmt::format("unknown log level \"{}\" (trace, debug, info, warn, error, off)", level), EINVAL);
  }
  static bool installed = false;
  if (!installed) {
    auto logger = spdlog::stderr_color_mt("pangaea");
    logger->set_pattern("%H:%M:%S.%e %^%l%$ %v");
    spdlog::set_default_logger(logger);
    installed = true;
  }
  spdlog::set_level(parsed);
  return {};
}

}  // namespace base
