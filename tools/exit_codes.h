#pragma once
// Process exit statuses of `pangaea`, the same for every subcommand.

namespace tools {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the command ran and failed
inline constexpr int kExitUsage = 2;    // bad flag, subcommand, value or config file

}  // namespace tools
