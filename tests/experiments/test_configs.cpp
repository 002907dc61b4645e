// Every worked config in experiments/configs/ is valid for its program: `<program> train -c FILE
// --print-config` resolves and checks it without running anything.
#include <doctest/doctest.h>

#include "tests/support.hpp"

using namespace genbox::testing;

TEST_CASE("every worked config in experiments/configs/ passes its program's validation") {
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(source_dir() / "experiments/configs")) {
    if (entry.path().extension() != ".toml") continue;
    const std::string name = entry.path().filename().string();
    std::string program;
    for (const char* candidate : {"rf_dit", "nice", "detr"})
      if (name.rfind(std::string(candidate) + "_", 0) == 0) program = candidate;
    CAPTURE(name);
    REQUIRE_FALSE(program.empty());
    auto result = run_command(binary(program) + " train -c " + entry.path().string() + " --print-config");
    INFO(result.output);
    CHECK(result.exit_code == 0);
    ++checked;
  }
  CHECK(checked >= 4);
}
