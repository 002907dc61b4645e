#include "common/zip_reader.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include "base/errors.hpp"
#include "common/zip_integrity.hpp"

namespace genbox {

namespace {
constexpr uint64_t kEndRecordSize = 22;

// Bounds-checked little-endian reads of a file whose every field may lie.
class Bytes {
 public:
  Bytes(std::string_view bytes, const std::string& source, const std::string& kind)
      : bytes_(bytes), source_(source), kind_(kind) {}
  uint64_t size() const { return bytes_.size(); }
  uint64_t at(uint64_t offset, int width) const {
    if (offset > size() || size() - offset < uint64_t(width))
      throw unreadable("a zip directory pointing outside the file");
    uint64_t value = 0;
    for (int i = width - 1; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes_[offset + i]);
    return value;
  }
  std::string_view span(uint64_t offset, uint64_t length) const {
    if (offset > size() || size() - offset < length) throw unreadable("a zip directory pointing outside the file");
    return bytes_.substr(offset, length);
  }
  DataError unreadable(const std::string& why) const {
    return DataError(fmt::format("{}: not a readable {} ({})", source_, kind_, why));
  }
  DataError damaged(const std::string& why) const { return DataError(fmt::format("{}: damaged: {}", source_, why)); }

 private:
  std::string_view bytes_;
  const std::string& source_;
  const std::string& kind_;
};

ZipDirectory read_directory(const Bytes& file) {
  const uint64_t n = file.size();
  if (n < kEndRecordSize) throw file.unreadable("no zip directory");
  ZipDirectory dir;
  dir.end = n;
  // The end record is searched from the back: at most a 65535-byte comment follows it.
  for (uint64_t i = n - kEndRecordSize; n - i <= kEndRecordSize + 0xffff; --i) {
    if (file.at(i, 4) == 0x06054b50) {
      dir.end = i;
      break;
    }
    if (i == 0) break;
  }
  if (dir.end == n) throw file.unreadable("no zip directory");
  dir.comment = file.at(dir.end + 20, 2);
  if (dir.end + kEndRecordSize + dir.comment != n)
    throw file.damaged("the zip end record does not match the file's length");
  uint64_t entries = file.at(dir.end + 10, 2), at = file.at(dir.end + 16, 4);
  if (at == 0xffffffff || entries == 0xffff) {
    // Zip64: the locator just before points at the zip64 end record.
    if (dir.end < 20 || file.at(dir.end - 20, 4) != 0x07064b50) throw file.unreadable("a broken zip64 locator");
    uint64_t record = file.at(dir.end - 12, 8);
    if (file.at(record, 4) != 0x06064b50) throw file.unreadable("a broken zip64 directory");
    entries = file.at(record + 32, 8);
    at = file.at(record + 48, 8);
  }
  // Every directory record takes at least 46 bytes: a count beyond that is a lie.
  if (entries > n / 46) throw file.unreadable("a zip directory claiming more entries than the file holds");
  dir.entries.reserve(entries);
  for (uint64_t e = 0; e < entries; ++e) {
    if (file.at(at, 4) != 0x02014b50) throw file.unreadable("a broken zip directory entry");
    ZipEntry entry;
    entry.method = file.at(at + 10, 2);
    entry.crc = static_cast<uint32_t>(file.at(at + 16, 4));
    entry.compressed = file.at(at + 20, 4);
    entry.size = file.at(at + 24, 4);
    entry.header = file.at(at + 42, 4);
    const uint64_t name = file.at(at + 28, 2), extra = file.at(at + 30, 2), comment = file.at(at + 32, 2);
    entry.name = std::string(file.span(at + 46, name));
    const uint64_t extra_begin = at + 46 + name, extra_end = extra_begin + extra;
    if (extra_end + comment > n) throw file.unreadable("a broken zip directory entry");
    for (uint64_t x = extra_begin; x + 4 <= extra_end;) {
      const uint64_t id = file.at(x, 2), length = file.at(x + 2, 2);
      if (x + 4 + length > extra_end) throw file.unreadable("a broken zip extra field");
      if (id == 0x0001) {  // zip64 values, present only for the fields that overflowed, in this order
        uint64_t field = x + 4;
        const uint64_t field_end = x + 4 + length;
        for (uint64_t* value : {&entry.size, &entry.compressed, &entry.header})
          if (*value == 0xffffffff && field + 8 <= field_end) *value = file.at(field, 8), field += 8;
      }
      x += 4 + length;
    }
    // Deflate expands at most 1032:1 (zlib's technical notes), so a deflated entry that claims more than
    // that of its compressed bytes is not honest; any other entry holds its bytes as they are.
    const uint64_t most = entry.method == 8 ? entry.compressed * 1032 + 1024 : n;
    if (entry.compressed > n || entry.size > most)
      throw file.unreadable(fmt::format("an entry claims {} bytes from {} in a file of {}", entry.size,
                                        entry.compressed, n));
    dir.entries.push_back(std::move(entry));
    at = extra_end + comment;
  }
  return dir;
}

}  // namespace

ZipDirectory read_zip_directory(std::string_view bytes, const std::string& source, const std::string& kind) {
  return read_directory(Bytes(bytes, source, kind));
}

std::string_view zip_entry_span(std::string_view bytes, const ZipEntry& entry, const std::string& source) {
  const std::string kind = "zip archive";
  const Bytes file(bytes, source, kind);
  const std::string where = fmt::format("entry '{}'", entry.name);
  if (file.at(entry.header, 4) != 0x04034b50) throw file.damaged(where + ": its local header is broken");
  const uint64_t name = file.at(entry.header + 26, 2), extra = file.at(entry.header + 28, 2);
  if (file.span(entry.header + 30, name) != entry.name)
    throw file.damaged(where + ": its local header names another entry");
  return file.span(entry.header + 30 + name + extra, entry.compressed);
}

std::string zip_entry_content(std::string_view bytes, const ZipEntry& entry, const std::string& source,
                              uint64_t max_size) {
  auto damaged = [&](const std::string& why) {
    return DataError(fmt::format("{}: entry '{}' {}", source, entry.name, why));
  };
  if (entry.size > max_size) throw damaged(fmt::format("holds {} bytes, more than {}", entry.size, max_size));
  const std::string_view stored = zip_entry_span(bytes, entry, source);
  std::string content;
  if (entry.method == 0) {
    if (entry.compressed != entry.size) throw damaged("is stored with two different sizes");
    content = std::string(stored);
  } else if (entry.method == 8) {
    // Raw deflate (negative window bits), inflated into the size the directory declares.
    content.assign(entry.size, '\0');
    z_stream stream{};
    if (inflateInit2(&stream, -MAX_WBITS) != Z_OK) throw damaged("cannot be inflated");
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(stored.data()));
    stream.avail_in = static_cast<uInt>(stored.size());
    stream.next_out = reinterpret_cast<Bytef*>(content.data());
    stream.avail_out = static_cast<uInt>(content.size());
    const int result = inflate(&stream, Z_FINISH);
    const uint64_t produced = stream.total_out;
    inflateEnd(&stream);
    if (result != Z_STREAM_END || produced != entry.size) throw damaged("does not inflate to its declared size");
  } else {
    throw damaged(fmt::format("uses compression method {}; only stored and deflated entries are read", entry.method));
  }
  if (crc32_of(content) != entry.crc) throw damaged("does not match its CRC-32");
  return content;
}

}  // namespace genbox
