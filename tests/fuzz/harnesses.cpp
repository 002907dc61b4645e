#include "tests/fuzz/harnesses.hpp"

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "base/config.hpp"
#include "base/errors.hpp"
#include "base/fsutil.hpp"
#include "common/data/decode.hpp"
#include "common/data/idx.hpp"
#include "common/data/resample.hpp"
#include "report/runs.hpp"

namespace genbox::fuzz {

namespace {
struct Settings {
  bool flag = false;
  int64_t count = 3;
  double rate = 0.5;
  std::string name = "x";
  std::string choice = "a";
  std::vector<int64_t> sizes = {1, 2};
  std::vector<double> scales = {1.0};
};

Schema schema_of(Settings& s) {
  Schema schema;
  schema.add("a.flag", s.flag, "a boolean");
  schema.add("a.count", s.count, 1, 1000, "an integer");
  schema.add("b.rate", s.rate, 0.0, 1.0, "a float");
  schema.add("b.name", s.name, "a string");
  schema.add_choice("b.choice", s.choice, {"a", "bb"}, "a choice");
  schema.add("c.sizes", s.sizes, 1, 64, "integers");
  schema.add("c.scales", s.scales, 0.0, 10.0, "floats");
  return schema;
}
}  // namespace

int config(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  Settings s;
  Schema schema = schema_of(s);
  try {
    schema.load_string(text, "fuzz.toml");
    schema.to_toml(true);
  } catch (const ConfigError&) {
  }
  try {
    schema.apply_override(text);
  } catch (const ConfigError&) {
  }
  return 0;
}

int idx(const uint8_t* data, size_t size) {
  // The reader opens files (gzip or not), so the bytes go through one, private to the process.
  static const std::string path = "/tmp/genbox-fuzz-idx-" + std::to_string(getpid());
  std::FILE* f = std::fopen(path.c_str(), "wb");
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    read_idx(path);
  } catch (const DataError&) {
  }
  return 0;
}

int metrics(const uint8_t* data, size_t size) {
  report::parse_metrics(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}

int json(const uint8_t* data, size_t size) {
  try {
    parse_json(std::string(reinterpret_cast<const char*>(data), size), "fuzz.json");
  } catch (const DataError&) {
  }
  return 0;
}

int image(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  for (int64_t channels : {3, 1}) {
    try {
      // A small pixel limit keeps the fuzzer fast; the limit itself is what is under test here too.
      const ImageU8 decoded = decode_image(bytes, "fuzz.png", channels, 1 << 14);
      center_crop(decoded, 7, 5);
      resize_bicubic(decoded, 3, 9);
      resize_box(decoded, 2, 2);
    } catch (const DataError&) {
    }
  }
  return 0;
}

}  // namespace genbox::fuzz
