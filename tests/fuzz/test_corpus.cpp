// Replays every kept fuzz input (tests/fuzz/corpus/<harness>/: the seeds and every input that
// ever crashed a reader) through its harness, as ordinary tests: a reader that regresses on one
// of them fails here, without a fuzzer.
#include <doctest/doctest.h>

#include <filesystem>
#include <functional>
#include <map>

#include "tests/fuzz/harnesses.hpp"
#include "tests/fuzz/harnesses_torch.hpp"
#include "tests/support.hpp"

using namespace genbox;

TEST_CASE("every kept fuzz input passes through its reader with at most a documented error") {
  const std::map<std::string, std::function<int(const uint8_t*, size_t)>> harnesses = {
      {"config", fuzz::config}, {"idx", fuzz::idx},   {"metrics", fuzz::metrics},       {"json", fuzz::json},
      {"image", fuzz::image},   {"coco", fuzz::coco}, {"checkpoint", fuzz::checkpoint}, {"zip", fuzz::zip},
      {"cifar", fuzz::cifar},   {"npz", fuzz::npz}};
  for (const auto& [name, harness] : harnesses) {
    std::filesystem::path dir = testing::source_dir() / "tests/fuzz/corpus" / name;
    REQUIRE(std::filesystem::is_directory(dir));
    int inputs = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      CAPTURE(entry.path().string());
      std::string bytes = testing::read_text(entry.path());
      CHECK(harness(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()) == 0);
      ++inputs;
    }
    CHECK(inputs > 0);
    MESSAGE(name << ": " << inputs << " inputs");
  }
}
