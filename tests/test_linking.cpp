// The link order that keeps genbox binaries bound to the system's libstdc++ (CMakeLists.txt,
// CMAKE_CXX_LINK_EXECUTABLE): libtorch.so exports its own copies of some libstdc++ functions,
// std::filesystem among them, and the dynamic linker takes each symbol from the first library
// in DT_NEEDED order that defines it. Where libtorch came first, std::filesystem::remove_all
// crashed (Ubuntu 24.04, GCC 13); on Debian the order happened to be right, so only this check
// catches a regression here.
#include <doctest/doctest.h>

#include <sstream>

#include "tests/support.hpp"

using namespace genbox::testing;

namespace {
// The DT_NEEDED entries of an ELF file, in order, as readelf lists them.
std::vector<std::string> needed_libraries(const std::string& path) {
  CommandResult result = run_command("readelf -d " + path);
  REQUIRE(result.exit_code == 0);
  std::vector<std::string> out;
  std::istringstream lines(result.output);
  for (std::string line; std::getline(lines, line);) {
    size_t open = line.find("Shared library: [");
    if (line.find("(NEEDED)") == std::string::npos || open == std::string::npos) continue;
    open += 17;
    out.push_back(line.substr(open, line.find(']', open) - open));
  }
  return out;
}
}  // namespace

TEST_CASE("every genbox binary needs libstdc++ before any torch library") {
  for (const std::string name : {"nice", "rf_dit", "detr", "compare", "genbox_tests"}) {
    CAPTURE(name);
    std::vector<std::string> needed = needed_libraries(binary(name));
    REQUIRE_FALSE(needed.empty());
    auto position = [&](const std::string& prefix) {
      for (size_t i = 0; i < needed.size(); ++i)
        if (needed[i].rfind(prefix, 0) == 0) return static_cast<int64_t>(i);
      return int64_t{-1};
    };
    int64_t stdcxx = position("libstdc++.so");
    REQUIRE(stdcxx >= 0);
    for (const char* torch : {"libtorch", "libc10"}) {
      int64_t first = position(torch);
      if (first >= 0) CHECK_MESSAGE(stdcxx < first, needed[static_cast<size_t>(first)] << " comes before libstdc++");
    }
  }
}
