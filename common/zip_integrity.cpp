#include "common/zip_integrity.hpp"

#include <fmt/format.h>
#include <isa-l/crc.h>
#include <zlib.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "base/errors.hpp"
#include "common/zip_reader.hpp"

namespace genbox {

namespace {
constexpr std::string_view kSealPrefix = "genbox-crc32 ";
constexpr uint64_t kSealSize = kSealPrefix.size() + 8;

// What an entry of PyTorch's archive holds, for messages.
std::string what_entry_holds(const std::string& name) {
  const std::string pickle = "data.pkl";
  if (name.size() >= pickle.size() && name.compare(name.size() - pickle.size(), pickle.size(), pickle) == 0)
    return " (the pickled records: keys, shapes, step and counters)";
  if (name.find("/data/") != std::string::npos) return " (a tensor's bytes)";
  return "";
}

// The entry's bytes, once its local header agrees with the directory; every checkpoint entry
// is stored.
std::string_view entry_data(std::string_view bytes, const ZipEntry& entry, const std::string& source) {
  if (entry.method != 0 || entry.compressed != entry.size)
    throw DataError(fmt::format("{}: damaged: entry '{}'{}: compressed, which no checkpoint is", source, entry.name,
                                what_entry_holds(entry.name)));
  return zip_entry_span(bytes, entry, source);
}

// Checks every entry against its directory's CRC-32; throws naming the first that fails.
void verify_entries(std::string_view bytes, const ZipDirectory& dir, const std::string& source) {
  for (const ZipEntry& entry : dir.entries)
    if (crc32_of(entry_data(bytes, entry, source)) != entry.crc)
      throw DataError(fmt::format("{}: damaged: entry '{}'{} does not match its CRC-32", source, entry.name,
                                  what_entry_holds(entry.name)));
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
  const ZipDirectory dir = read_zip_directory(bytes, "the checkpoint being written", "checkpoint");
  if (dir.comment != 0) throw std::logic_error("seal_zip: the archive already has a comment");
  bytes[dir.end + 20] = static_cast<char>(kSealSize & 0xff);
  bytes[dir.end + 21] = static_cast<char>(kSealSize >> 8);
  bytes += fmt::format("{}{:08x}", kSealPrefix, crc32_of(bytes));
}

void verify_zip(std::string_view bytes, const std::string& source) {
  const ZipDirectory dir = read_zip_directory(bytes, source, "checkpoint");
  if (dir.comment == 0) return verify_entries(bytes, dir, source);
  std::string_view comment = bytes.substr(bytes.size() - dir.comment);
  bool ok = comment.size() == kSealSize && comment.substr(0, kSealPrefix.size()) == kSealPrefix;
  const uint32_t sealed = ok ? parse_hex(comment.substr(kSealPrefix.size()), ok) : 0;
  if (!ok) throw DataError(fmt::format("{}: damaged: its zip comment is not genbox's seal", source));
  if (crc32_of(bytes.substr(0, bytes.size() - dir.comment)) == sealed) return;
  verify_entries(bytes, dir, source);
  throw DataError(fmt::format("{}: damaged: its zip headers do not match the CRC-32 sealed in the file", source));
}

}  // namespace genbox
