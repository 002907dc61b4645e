// TensorBoard's event files, written without TensorFlow: TFRecord framing around Event protobufs,
// encoded by hand. A record is uint64 length, uint32 masked crc32c of those 8 bytes, the data,
// uint32 masked crc32c of the data, all little-endian; mask(c) = ((c >> 15) | (c << 17)) +
// 0xa282ead8. The messages (tensorflow/core/util/event.proto, framework/summary.proto), only the
// fields written here:
//   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//   Summary { repeated Value value = 1; }
//   Value   { string tag = 1; float simple_value = 2; Image image = 4; }
//   Image   { int32 height = 1; int32 width = 2; int32 colorspace = 3; bytes encoded_image_string = 4; }
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace genbox::report {

// CRC-32C (Castagnoli, reflected polynomial 0x82f63b78): crc32c("123456789") == 0xe3069283.
std::uint32_t crc32c(std::string_view data);
std::uint32_t masked_crc32c(std::string_view data);

// One TFRecord: the framing above around `data`.
std::string tfrecord(std::string_view data);

// One entry of Summary's repeated `value` field each (key and length included), so that
// concatenated they are a Summary.
std::string scalar_value(const std::string& tag, float value);
// `png` is the encoded image; width, height and colorspace (1 gray, 2 gray + alpha, 3 RGB,
// 4 RGBA) come from its IHDR chunk. Throws std::invalid_argument when it is not a PNG.
std::string png_image_value(const std::string& tag, const std::string& png);

// Serialised Event messages: the file's first record, naming the format ("brain.Event:2"),
// and one carrying a summary (concatenated values).
std::string file_version_event(double wall_time);
std::string summary_event(double wall_time, std::int64_t step, const std::string& values);

}  // namespace genbox::report
