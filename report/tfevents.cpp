#include "report/tfevents.hpp"

#include <array>
#include <cstring>
#include <stdexcept>

namespace genbox::report {

namespace {

// Protobuf wire format (https://protobuf.dev/programming-guides/encoding/): each field is a
// varint key (field number << 3 | wire type), then its value.
enum WireType : std::uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

void put_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void put_little_endian(std::string& out, std::uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

void put_key(std::string& out, std::uint32_t field, WireType type) { put_varint(out, (field << 3) | type); }

// int32 and int64 fields are varints of the value's two's complement, 64 bits wide.
void put_integer(std::string& out, std::uint32_t field, std::int64_t value) {
  put_key(out, field, kVarint);
  put_varint(out, static_cast<std::uint64_t>(value));
}

void put_bytes(std::string& out, std::uint32_t field, std::string_view bytes) {
  put_key(out, field, kLengthDelimited);
  put_varint(out, bytes.size());
  out.append(bytes.data(), bytes.size());
}

void put_double(std::string& out, std::uint32_t field, double value) {
  std::uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  put_key(out, field, kFixed64);
  put_little_endian(out, bits, 8);
}

void put_float(std::string& out, std::uint32_t field, float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  put_key(out, field, kFixed32);
  put_little_endian(out, bits, 4);
}

std::uint32_t big_endian_u32(const std::string& bytes, std::size_t at) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < 4; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
  return value;
}

}  // namespace

std::uint32_t crc32c(std::string_view data) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t crc = 0xffffffffu;
  for (unsigned char byte : data) crc = table[(crc ^ byte) & 0xff] ^ (crc >> 8);
  return crc ^ 0xffffffffu;
}

std::uint32_t masked_crc32c(std::string_view data) {
  const std::uint32_t crc = crc32c(data);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::string tfrecord(std::string_view data) {
  std::string length;
  put_little_endian(length, data.size(), 8);
  std::string record = length;
  put_little_endian(record, masked_crc32c(length), 4);
  record.append(data.data(), data.size());
  put_little_endian(record, masked_crc32c(data), 4);
  return record;
}

std::string scalar_value(const std::string& tag, float value) {
  std::string out;
  put_bytes(out, 1, tag);
  put_float(out, 2, value);
  std::string wrapped;
  put_bytes(wrapped, 1, out);
  return wrapped;
}

std::string png_image_value(const std::string& tag, const std::string& png) {
  // The signature, then the IHDR chunk: length, "IHDR", width, height, bit depth, colour type.
  static const char kSignature[] = "\x89PNG\r\n\x1a\n";
  if (png.size() < 26 || png.compare(0, 8, kSignature, 8) != 0 || png.compare(12, 4, "IHDR") != 0)
    throw std::invalid_argument("not a PNG image");
  const std::uint32_t width = big_endian_u32(png, 16), height = big_endian_u32(png, 20);
  // PNG colour types: 0 gray, 2 RGB, 3 palette (shown as RGB), 4 gray + alpha, 6 RGBA.
  const unsigned char colour_type = static_cast<unsigned char>(png[25]);
  const int colorspace = colour_type == 0 ? 1 : colour_type == 4 ? 2 : colour_type == 6 ? 4 : 3;
  std::string image;
  put_integer(image, 1, height);
  put_integer(image, 2, width);
  put_integer(image, 3, colorspace);
  put_bytes(image, 4, png);
  std::string out;
  put_bytes(out, 1, tag);
  put_bytes(out, 4, image);
  std::string wrapped;
  put_bytes(wrapped, 1, out);
  return wrapped;
}

std::string file_version_event(double wall_time) {
  std::string event;
  put_double(event, 1, wall_time);
  put_bytes(event, 3, "brain.Event:2");
  return event;
}

std::string summary_event(double wall_time, std::int64_t step, const std::string& values) {
  std::string event;
  put_double(event, 1, wall_time);
  put_integer(event, 2, step);
  put_bytes(event, 5, values);
  return event;
}

}  // namespace genbox::report
