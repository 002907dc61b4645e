#include "common/zip_integrity.hpp"

#include <fmt/format.h>
#include <isa-l/crc.h>
#include <zlib.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "base/errors.hpp"

namespace genbox {

namespace {
constexpr std::string_view kSealPrefix = "genbox-crc32 ";
constexpr uint64_t kSealSize = kSealPrefix.size() + 8;
constexpr uint64_t kEndRecordSize = 22;

struct Entry {
  std::string name;
  uint64_t header = 0;  // offset of its local header
  uint64_t size = 0, compressed = 0;
  uint32_t crc = 0;
  uint64_t method = 0;
};

struct Directory {
  uint64_t end = 0;      // offset of the end-of-central-directory record
  uint64_t comment = 0;  // the comment's length; it ends the file
  std::vector<Entry> entries;
};

// Bounds-checked little-endian reads of a file whose every field may lie.
class Bytes {
 public:
  Bytes(std::string_view bytes, const std::string& source) : bytes_(bytes), source_(source) {}
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
    return DataError(fmt::format("{}: not a readable checkpoint ({})", source_, why));
  }
  DataError damaged(const std::string& why) const { return DataError(fmt::format("{}: damaged: {}", source_, why)); }

 private:
  std::string_view bytes_;
  const std::string& source_;
};

// What an entry of PyTorch's archive holds, for messages.
std::string what_entry_holds(const std::string& name) {
  const std::string pickle = "data.pkl";
  if (name.size() >= pickle.size() && name.compare(name.size() - pickle.size(), pickle.size(), pickle) == 0)
    return " (the pickled records: keys, shapes, step and counters)";
  if (name.find("/data/") != std::string::npos) return " (a tensor's bytes)";
  return "";
}

Directory read_directory(const Bytes& file) {
  const uint64_t n = file.size();
  if (n < kEndRecordSize) throw file.unreadable("no zip directory");
  Directory dir;
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
    Entry entry;
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
    if (entry.size > n || entry.compressed > n)
      throw file.unreadable(fmt::format("an entry claims {} bytes in a file of {}", entry.size, n));
    dir.entries.push_back(std::move(entry));
    at = extra_end + comment;
  }
  return dir;
}

// The entry's bytes, once its local header agrees with the directory.
std::string_view entry_data(const Bytes& file, const Entry& entry) {
  const std::string where = fmt::format("entry '{}'{}", entry.name, what_entry_holds(entry.name));
  if (file.at(entry.header, 4) != 0x04034b50) throw file.damaged(where + ": its local header is broken");
  const uint64_t name = file.at(entry.header + 26, 2), extra = file.at(entry.header + 28, 2);
  if (file.span(entry.header + 30, name) != entry.name)
    throw file.damaged(where + ": its local header names another entry");
  if (entry.method != 0 || entry.compressed != entry.size)
    throw file.damaged(where + ": compressed, which no checkpoint is");
  return file.span(entry.header + 30 + name + extra, entry.size);
}

// Checks every entry against its directory's CRC-32; throws naming the first that fails.
void verify_entries(const Bytes& file, const Directory& dir) {
  for (const Entry& entry : dir.entries)
    if (crc32_of(entry_data(file, entry)) != entry.crc)
      throw file.damaged(
          fmt::format("entry '{}'{} does not match its CRC-32", entry.name, what_entry_holds(entry.name)));
}

uint32_t parse_hex(std::string_view text, bool& ok) {
  uint32_t value = 0;
  ok = text.size() == 8;
  for (char c : text) {
    int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (digit < 0) ok = false;
    value = (value << 4) | uint32_t(digit & 0xf);
  }
  return value;
}
}  // namespace

uint32_t crc32_of(std::string_view bytes, uint32_t crc) {
  // ISA-L's folding CRC (PCLMULQDQ) runs at about 11 GB/s on one core where a table CRC manages
  // two or three. A large file is split over the cores, the parts' CRCs joined by zlib's
  // crc32_combine (which costs microseconds): the check of a 100 MB checkpoint then stays a few
  // percent of loading it.
  auto serial = [](std::string_view part, uint32_t start) {
    return crc32_gzip_refl(start, reinterpret_cast<const unsigned char*>(part.data()), part.size());
  };
  constexpr size_t kPerThread = 8 << 20;
  const size_t threads =
      std::min<size_t>({std::max(1u, std::thread::hardware_concurrency()), 8, bytes.size() / kPerThread});
  if (threads < 2) return serial(bytes, crc);
  const size_t part = bytes.size() / threads;
  std::vector<uint32_t> parts(threads);
  std::vector<std::thread> workers;
  for (size_t t = 1; t < threads; ++t)
    workers.emplace_back(
        [&, t] { parts[t] = serial(bytes.substr(t * part, t + 1 == threads ? std::string_view::npos : part), 0); });
  parts[0] = serial(bytes.substr(0, part), crc);
  for (std::thread& worker : workers) worker.join();
  uLong joined = parts[0];
  for (size_t t = 1; t < threads; ++t) {
    const size_t length = t + 1 == threads ? bytes.size() - t * part : part;
    joined = crc32_combine(joined, parts[t], static_cast<z_off_t>(length));
  }
  return static_cast<uint32_t>(joined);
}

void seal_zip(std::string& bytes) {
  const std::string source = "the checkpoint being written";
  const Directory dir = read_directory(Bytes(bytes, source));
  if (dir.comment != 0) throw std::logic_error("seal_zip: the archive already has a comment");
  bytes[dir.end + 20] = static_cast<char>(kSealSize & 0xff);
  bytes[dir.end + 21] = static_cast<char>(kSealSize >> 8);
  bytes += fmt::format("{}{:08x}", kSealPrefix, crc32_of(bytes));
}

void verify_zip(std::string_view bytes, const std::string& source) {
  const Bytes file(bytes, source);
  const Directory dir = read_directory(file);
  if (dir.comment == 0) return verify_entries(file, dir);
  std::string_view comment = bytes.substr(bytes.size() - dir.comment);
  bool ok = comment.size() == kSealSize && comment.substr(0, kSealPrefix.size()) == kSealPrefix;
  const uint32_t sealed = ok ? parse_hex(comment.substr(kSealPrefix.size()), ok) : 0;
  if (!ok) throw file.damaged("its zip comment is not genbox's seal");
  if (crc32_of(bytes.substr(0, bytes.size() - dir.comment)) == sealed) return;
  verify_entries(file, dir);
  throw file.damaged("its zip headers do not match the CRC-32 sealed in the file");
}

}  // namespace genbox
