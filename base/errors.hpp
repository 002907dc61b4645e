// Error kinds an experiment maps to exit codes (see docs/DESIGN.md, "Command line").
#pragma once

#include <stdexcept>

namespace genbox {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A missing, truncated or malformed data file; the message names the path.
struct DataError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The weights or the loss stopped being finite; the message says what was kept.
struct NonFiniteError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 2,  // also config errors
  kExitData = 3,   // also I/O errors (disk full, permissions) and any error not attributed to the config
  kExitNonFinite = 4,
  kExitDistributed = 5,  // another process of a torchrun launch died, hung or could not be reached
  kExitSigint = 130,
  kExitSigterm = 143,
};

}  // namespace genbox
