#include "tests/support.hpp"

namespace genbox::testing {

std::string binary(const std::string& name) { return std::string(GENBOX_BIN_DIR) + "/" + name; }

std::filesystem::path source_dir() { return GENBOX_SOURCE_DIR; }

}  // namespace genbox::testing
