#pragma once
// Logging: spdlog, quiet by default (warnings and errors on stderr).

#include <string_view>

#include "base/result.h"

namespace base {

// Sets the global level from "trace|debug|info|warn|error|off".
Status setup_logging(std::string_view level);

}  // namespace base
