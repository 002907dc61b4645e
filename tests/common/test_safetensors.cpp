// The safetensors writer and reader (common/safetensors): the exact bytes of a hand-made file,
// round trips of every dtype, refusal of malformed files, and a cross-check in Python.
#include <doctest/doctest.h>

#include <torch/serialize.h>
#include <torch/torch.h>

#include <functional>

#include "base/errors.hpp"
#include "common/safetensors.hpp"
#include "tests/support.hpp"

using namespace genbox;
using namespace genbox::testing;

namespace {

// A header length as the format stores it.
std::string little_endian_u64(uint64_t value) {
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  return out;
}

// A file of the given header JSON and data, with a correct length and padding.
std::string file_of(std::string json, const std::string& data) {
  json.append((8 - json.size() % 8) % 8, ' ');
  return little_endian_u64(json.size()) + json + data;
}

Safetensors every_dtype() {
  Safetensors s;
  s.tensors = {
      {"f64", torch::tensor({1.0, -2.5}, torch::kFloat64)},
      {"f32", torch::arange(12, torch::kFloat32).reshape({3, 4}).t()},  // not contiguous
      {"f16", torch::tensor({0.5, 3.0}).to(torch::kFloat16)},
      {"bf16", torch::tensor({-1.0, 7.0}).to(torch::kBFloat16)},
      {"i64", torch::tensor(int64_t(-3))},  // a scalar: shape []
      {"i32", torch::tensor({1, -1}, torch::kInt32)},
      {"i16", torch::tensor({300}, torch::kInt16)},
      {"i8", torch::tensor({-7}, torch::kInt8)},
      {"u8", torch::tensor({255, 0}, torch::kUInt8)},
      {"bool", torch::tensor({true, false, true})},
      {"empty", torch::zeros({0, 5})},
  };
  s.metadata = {{"experiment", "test"}, {"note", "ünïcode and \"quotes\""}};
  return s;
}

void check_same(const Safetensors& read, const Safetensors& written) {
  REQUIRE(read.tensors.size() == written.tensors.size());
  for (size_t i = 0; i < read.tensors.size(); ++i) {
    CAPTURE(written.tensors[i].first);
    CHECK(read.tensors[i].first == written.tensors[i].first);
    CHECK((read.tensors[i].second.scalar_type() == written.tensors[i].second.scalar_type()));
    CHECK((read.tensors[i].second.sizes() == written.tensors[i].second.sizes()));
    CHECK(torch::equal(read.tensors[i].second, written.tensors[i].second));
  }
  CHECK(read.metadata == written.metadata);
}

}  // namespace

TEST_CASE("safetensors: a hand-made state gives exactly the format's bytes") {
  Safetensors s;
  s.tensors = {{"w", torch::tensor({1.5f, -2.0f})},
               {"n", torch::tensor(int64_t(3))},
               {"m", torch::tensor({1, 2, 3}, torch::kUInt8).reshape({1, 3})}};
  s.metadata = {{"k", "v"}};
  // Header first in the order given, metadata before the tensors; 188 bytes of JSON padded with
  // four spaces to 192, so that the data starts 8-aligned at byte 200.
  const std::string json =
      R"({"__metadata__":{"k":"v"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("n":{"dtype":"I64","shape":[],"data_offsets":[8,16]},"m":{"dtype":"U8","shape":[1,3],"data_offsets":[16,19]}})";
  REQUIRE(json.size() == 188);
  const std::string expected = std::string("\xc0\0\0\0\0\0\0\0", 8) + json + "    " +
                               std::string("\x00\x00\xc0\x3f\x00\x00\x00\xc0", 8) +  // 1.5f, -2.0f
                               std::string("\x03\0\0\0\0\0\0\0", 8) + std::string("\x01\x02\x03", 3);
  const std::string bytes = safetensors_bytes(s);
  CHECK(bytes.size() == 8 + 192 + 19);
  CHECK(bytes == expected);
  check_same(parse_safetensors(bytes, "x.safetensors"), s);

  // Without metadata there is no __metadata__ entry at all, as Python's save_file writes.
  s.metadata.clear();
  CHECK(safetensors_bytes(s).find("__metadata__") == std::string::npos);
}

TEST_CASE("safetensors: every dtype, a scalar, an empty and a non-contiguous tensor survive a file") {
  TempDir dir;
  const Safetensors s = every_dtype();
  write_safetensors(dir / "all.safetensors", s);
  const std::string bytes = read_text(dir / "all.safetensors");
  uint64_t header = 0;
  for (int i = 7; i >= 0; --i) header = (header << 8) | static_cast<unsigned char>(bytes[i]);
  CHECK(header % 8 == 0);
  check_same(read_safetensors(dir / "all.safetensors"), s);

  CHECK_THROWS_AS(safetensors_bytes({{{"c", torch::zeros({2}, torch::kComplexFloat)}}, {}}), std::invalid_argument);
  CHECK_THROWS_AS(safetensors_bytes({{{"a", torch::zeros({1})}, {"a", torch::zeros({1})}}, {}}), std::invalid_argument);
}

TEST_CASE("safetensors: a malformed file is a DataError naming it and what is wrong") {
  const std::string tensor = R"("t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string eight(8, '\0');
  const std::vector<std::pair<std::string, std::string>> cases = {
      {std::string("\x10\0\0", 3), "shorter than its 8-byte header length"},
      {little_endian_u64(1000) + "{}", "a header of 1000 bytes"},
      {little_endian_u64(uint64_t(1) << 62) + "{}", "a header of"},
      {file_of("{", ""), "x.safetensors"},
      {file_of("[]", ""), "not a JSON object"},
      {file_of(R"({"t":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}})", eight), "unsupported dtype"},
      {file_of(R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}})", eight), "a bad dimension"},
      {file_of(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight), "do not hold its shape"},
      {file_of(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", eight), "do not hold its shape"},
      {file_of(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", eight),
       "do not hold its shape"},
      {file_of(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", eight), "do not hold its shape"},
      {file_of("{" + tensor + "}", eight + "xx"), "2 bytes of data after the last tensor"},
      {file_of(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight), "leaves a gap or overlaps"},
      {file_of("{" + tensor + R"(,"u":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight), "overlaps"},
      {file_of(R"({"t":{"dtype":"F32","shape":[2]}})", eight), "wants dtype, shape and data_offsets"},
      {file_of(R"({"__metadata__":{"k":1}})", ""), "metadata 'k' is not a string"},
  };
  for (const auto& [bytes, why] : cases) {
    CAPTURE(why);
    const std::string message = data_error_of([&] { parse_safetensors(bytes, "x.safetensors"); });
    CHECK(message.find("x.safetensors") == 0);
    CHECK(message.find(why) != std::string::npos);
  }
}

TEST_CASE("safetensors: Python reads our file as we wrote it") {
  if (reference_python().empty()) {
    MESSAGE("skipped: no venv Python with torch (scripts/setup installs it)");
    return;
  }
  TempDir dir;
  const Safetensors s = every_dtype();
  write_safetensors(dir / "all.safetensors", s);
  // bench/load_safetensors.py reads it with json, struct and torch alone, and with the safetensors
  // package as well when it is installed (both must agree); it saves what it read with torch.save.
  auto result = run_command(reference_python() + " " + (source_dir() / "bench" / "load_safetensors.py").string() + " " +
                            (dir / "all.safetensors").string() + " " + (dir / "read.pt").string());
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  std::ifstream in(dir / "read.pt", std::ios::binary);
  const std::vector<char> saved((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const c10::Dict<c10::IValue, c10::IValue> read = torch::pickle_load(saved).toGenericDict();
  const auto tensors = read.at("tensors").toGenericDict();
  CHECK(tensors.size() == s.tensors.size());
  for (const auto& [name, tensor] : s.tensors) {
    CAPTURE(name);
    REQUIRE(tensors.contains(name));
    const torch::Tensor theirs = tensors.at(name).toTensor();
    CHECK((theirs.scalar_type() == tensor.scalar_type()));
    CHECK(torch::equal(theirs, tensor));
  }
  const auto metadata = read.at("metadata").toGenericDict();
  CHECK(metadata.size() == s.metadata.size());
  for (const auto& [key, value] : s.metadata) CHECK(metadata.at(key).toStringRef() == value);
  std::string readers;
  for (const c10::IValue& reader : read.at("readers").toListRef()) readers += reader.toStringRef() + " ";
  MESSAGE("read by: " << readers);
}
