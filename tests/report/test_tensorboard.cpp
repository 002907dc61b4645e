// TensorBoard event files (report/tfevents, report/tensorboard), read back by a small TFRecord
// and protobuf decoder here: CRCs checked with a bitwise CRC-32C written independently of the
// library's table, against published vectors and the bytes every TensorFlow event file starts with.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/fsutil.hpp"
#include "report/tensorboard.hpp"
#include "report/tfevents.hpp"
#include "tests/report/fixture_runs.hpp"

using namespace genbox::report;
namespace fs = std::filesystem;

namespace {

// CRC-32C bit by bit, straight from the polynomial: the oracle for the library's table version.
std::uint32_t bitwise_crc32c(std::string_view data) {
  std::uint32_t crc = 0xffffffffu;
  for (unsigned char byte : data) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k) crc = (crc & 1) ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
  }
  return ~crc;
}

std::uint32_t bitwise_masked(std::string_view data) {
  const std::uint32_t crc = bitwise_crc32c(data);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::uint64_t little_endian(std::string_view bytes, std::size_t at, int width) {
  std::uint64_t value = 0;
  for (int i = width - 1; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
  return value;
}

// The records of a TFRecord file, each framing and both CRCs checked.
std::vector<std::string> read_records(std::string_view file) {
  std::vector<std::string> records;
  std::size_t at = 0;
  while (at < file.size()) {
    REQUIRE(file.size() - at >= 12);
    const std::uint64_t length = little_endian(file, at, 8);
    CHECK(little_endian(file, at + 8, 4) == bitwise_masked(file.substr(at, 8)));
    REQUIRE(file.size() - at - 12 >= length + 4);
    const std::string_view data = file.substr(at + 12, length);
    CHECK(little_endian(file, at + 12 + length, 4) == bitwise_masked(data));
    records.emplace_back(data);
    at += 12 + length + 4;
  }
  return records;
}

// One protobuf field: its number, wire type and value (varint, or the raw bytes of the rest).
struct Field {
  std::uint32_t number, wire;
  std::uint64_t varint = 0;
  std::string bytes;
};

std::vector<Field> decode(std::string_view message) {
  std::vector<Field> fields;
  std::size_t at = 0;
  auto varint = [&] {
    std::uint64_t value = 0;
    for (int shift = 0;; shift += 7) {
      REQUIRE(at < message.size());
      const unsigned char byte = static_cast<unsigned char>(message[at++]);
      value |= std::uint64_t(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return value;
    }
  };
  while (at < message.size()) {
    const std::uint64_t key = varint();
    Field field{std::uint32_t(key >> 3), std::uint32_t(key & 7), 0, {}};
    if (field.wire == 0) {
      field.varint = varint();
    } else {
      REQUIRE((field.wire == 1 || field.wire == 2 || field.wire == 5));  // the wire types written here
      const std::size_t size = field.wire == 1 ? 8 : field.wire == 5 ? 4 : varint();
      REQUIRE(message.size() - at >= size);
      field.bytes = std::string(message.substr(at, size));
      at += size;
    }
    fields.push_back(std::move(field));
  }
  return fields;
}

const Field* find(const std::vector<Field>& fields, std::uint32_t number) {
  for (const Field& f : fields)
    if (f.number == number) return &f;
  return nullptr;
}

double as_double(const Field& f) {
  double value;
  REQUIRE(f.wire == 1);
  std::memcpy(&value, f.bytes.data(), 8);
  return value;
}

float as_float(const Field& f) {
  float value;
  REQUIRE(f.wire == 5);
  std::memcpy(&value, f.bytes.data(), 4);
  return value;
}

// An event decoded: wall time, step, and the summary's values.
struct DecodedValue {
  std::string tag;
  std::optional<float> scalar;
  std::optional<std::vector<Field>> image;
};
struct DecodedEvent {
  double wall_time = NAN;
  std::int64_t step = 0;
  std::string file_version;
  std::vector<DecodedValue> values;
};

DecodedEvent decode_event(std::string_view record) {
  DecodedEvent event;
  for (const Field& f : decode(record)) {
    if (f.number == 1) event.wall_time = as_double(f);
    if (f.number == 2) event.step = std::int64_t(f.varint);
    if (f.number == 3) event.file_version = f.bytes;
    if (f.number != 5) continue;
    for (const Field& entry : decode(f.bytes)) {
      REQUIRE(entry.number == 1);
      DecodedValue value;
      for (const Field& v : decode(entry.bytes)) {
        if (v.number == 1) value.tag = v.bytes;
        if (v.number == 2) value.scalar = as_float(v);
        if (v.number == 4) value.image = decode(v.bytes);
      }
      event.values.push_back(std::move(value));
    }
  }
  return event;
}

}  // namespace

TEST_CASE("crc32c and its mask match published vectors and a bitwise CRC") {
  CHECK(crc32c("123456789") == 0xe3069283u);
  // RFC 3720 (iSCSI), B.4: 32 bytes of zeros, of ones, and ascending.
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  CHECK(crc32c(std::string(32, '\0')) == 0x8a9136aau);
  CHECK(crc32c(std::string(32, '\xff')) == 0x62a8ab43u);
  CHECK(crc32c(ascending) == 0x46dd794eu);
  CHECK(masked_crc32c("123456789") == 0xc78ab0e5u);
  for (const std::string& data : {std::string(), std::string("brain.Event:2"), ascending, std::string(1000, 'x')}) {
    CHECK(crc32c(data) == bitwise_crc32c(data));
    CHECK(masked_crc32c(data) == bitwise_masked(data));
  }
}

TEST_CASE("the first record is the 24-byte file-version event every TensorFlow event file starts with") {
  const std::string record = tfrecord(file_version_event(1700000000.5));
  // Length 24 and its masked CRC: the 12 bytes at the head of any events.out.tfevents file.
  CHECK(record.substr(0, 12) == std::string("\x18\0\0\0\0\0\0\0\xa3\x7f\x4b\x22", 12));
  REQUIRE(record.size() == 12 + 24 + 4);
  const std::vector<std::string> records = read_records(record);
  REQUIRE(records.size() == 1);
  CHECK(records[0][0] == '\x09');                // field 1, 64-bit
  CHECK(records[0].substr(9, 2) == "\x1a\x0d");  // field 3, length-delimited, 13 bytes
  const DecodedEvent event = decode_event(records[0]);
  CHECK(event.wall_time == 1700000000.5);
  CHECK(event.file_version == "brain.Event:2");
}

TEST_CASE("scalar and image values encode tag, value and the PNG's size and colour space") {
  const std::string png = genbox::read_file(fixtures::path(fixtures::kFinished) / "samples" / "step_0001000.png");
  const DecodedEvent event =
      decode_event(summary_event(12.25, 1000, scalar_value("eval/bpd", 2.5f) + png_image_value("samples", png)));
  CHECK(event.wall_time == 12.25);
  CHECK(event.step == 1000);
  REQUIRE(event.values.size() == 2);
  CHECK(event.values[0].tag == "eval/bpd");
  CHECK(event.values[0].scalar == 2.5f);
  CHECK(event.values[1].tag == "samples");
  REQUIRE(event.values[1].image);
  const std::vector<Field>& image = *event.values[1].image;
  // The fixture's IHDR: width and height big-endian at bytes 16 and 20, colour type at 25.
  CHECK(find(image, 1)->varint == little_endian(std::string{png[23], png[22], png[21], png[20]}, 0, 4));
  CHECK(find(image, 2)->varint == little_endian(std::string{png[19], png[18], png[17], png[16]}, 0, 4));
  const std::map<int, std::uint64_t> colorspace_of_png_colour_type = {{0, 1}, {2, 3}, {3, 3}, {4, 2}, {6, 4}};
  CHECK(find(image, 3)->varint == colorspace_of_png_colour_type.at(png[25]));
  CHECK(find(image, 4)->bytes == png);
  // A large step and a negative one take ten-byte varints, as protobuf's int64 does.
  CHECK(decode_event(summary_event(0, int64_t(1) << 40, "")).step == int64_t(1) << 40);
  CHECK(decode_event(summary_event(0, -1, "")).step == -1);
  CHECK_THROWS_AS(png_image_value("x", "GIF89a not a png at all"), std::invalid_argument);
}

TEST_CASE("a run's events hold every metric by split and its sample grids, in step order") {
  const Run run = load_run(fixtures::path(fixtures::kFinished));
  const EventFile file = tensorboard_events(run);
  CHECK(file.warnings.empty());
  const std::vector<std::string> records = read_records(file.bytes);
  REQUIRE(records.size() > 1);
  CHECK(decode_event(records[0]).file_version == "brain.Event:2");
  const double started = 1704110400;  // 2024-01-01T12:00:00Z, meta.json's started
  std::map<std::string, std::map<std::int64_t, float>> scalars;
  std::map<std::string, std::vector<std::int64_t>> images;
  std::int64_t previous = -1;
  for (std::size_t i = 1; i < records.size(); ++i) {
    const DecodedEvent event = decode_event(records[i]);
    CHECK(event.step >= previous);
    previous = event.step;
    CHECK(event.wall_time >= started);
    for (const DecodedValue& value : event.values) {
      if (value.scalar) scalars[value.tag][event.step] = *value.scalar;
      if (value.image) images[value.tag].push_back(event.step);
    }
  }
  // Every metric of every line, tagged by split (metrics.jsonl of the fixture).
  for (const auto& [split, rows] : run.metrics.splits)
    for (const auto& [metric, column] : rows.values)
      for (std::size_t i = 0; i < rows.size(); ++i) {
        CAPTURE(split + "/" + metric);
        if (std::isfinite(column[i])) CHECK(scalars[split + "/" + metric].at(rows.step[i]) == float(column[i]));
      }
  CHECK(scalars.at("train/loss").at(1000) == 1450.2f);
  CHECK(scalars.at("eval/bpd").at(1000) == 2.31f);
  CHECK(images.at("samples") == std::vector<std::int64_t>{1000, 3000});
  CHECK(images.at("samples/inpaint") == std::vector<std::int64_t>{3000});  // an extra: at the run's last step
  // The eval line of step 1000 was logged at time_s 252.0.
  for (std::size_t i = 1; i < records.size(); ++i) {
    const DecodedEvent event = decode_event(records[i]);
    if (event.step == 1000 && event.values[0].tag == "eval/bpd") CHECK(event.wall_time == started + 252.0);
  }
}

TEST_CASE("write_tensorboard: one directory per run, named by it, and a rerun replaces the log") {
  std::string pattern = (fs::temp_directory_path() / "genbox-tb-XXXXXX").string();
  const fs::path dir = mkdtemp(pattern.data());
  std::vector<Run> runs = fixtures::load({fixtures::kFinished, fixtures::kResumed});
  runs.push_back(runs[0]);  // the same name twice
  std::vector<std::string> warnings;
  fs::create_directories(dir / "tb" / "20240101-120000-base");
  genbox::write_file_atomic(dir / "tb" / "20240101-120000-base" / "events.out.tfevents.1.old", "stale");
  const std::vector<fs::path> written = write_tensorboard(runs, dir / "tb", warnings);
  REQUIRE(written.size() == 3);
  CHECK(written[0].parent_path().filename() == "20240101-120000-base");
  CHECK(written[1].parent_path().filename() == "20240103-080000-resumed");
  CHECK(written[2].parent_path().filename() == "20240101-120000-base-2");
  for (const fs::path& path : written) {
    CHECK(path.filename().string().rfind("events.out.tfevents.", 0) == 0);
    CHECK(!read_records(genbox::read_file(path)).empty());
  }
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir / "tb" / "20240101-120000-base")) {
    CHECK(entry.path() == written[0]);
    ++files;
  }
  CHECK(files == 1);
  CHECK(genbox::read_file(written[0]) == genbox::read_file(written[2]));
  fs::remove_all(dir);
}

TEST_CASE("compare --tensorboard writes the logs, and exit 1 when it cannot") {
  std::string pattern = (fs::temp_directory_path() / "genbox-tb-XXXXXX").string();
  const fs::path dir = mkdtemp(pattern.data());
  const std::string compare =
      std::string(GENBOX_BIN_DIR) + "/compare '" + fixtures::path(fixtures::kFinished).string() + "' --tensorboard ";
  CHECK(std::system((compare + "'" + (dir / "tb").string() + "' >/dev/null 2>&1").c_str()) == 0);
  std::size_t files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir / "tb"))
    files += entry.path().filename().string().rfind("events.out.tfevents.", 0) == 0;
  CHECK(files == 1);
  genbox::write_file_atomic(dir / "file", "not a directory");
  const int status = std::system((compare + "'" + (dir / "file").string() + "' >/dev/null 2>&1").c_str());
  CHECK(WEXITSTATUS(status) == 1);
  fs::remove_all(dir);
}
