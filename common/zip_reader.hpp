// Reading a zip archive whose every field may lie (a damaged checkpoint, a user's data set): the
// central directory (zip64 included) with every offset and size bounds-checked against the file,
// each entry's local header checked against the directory, and an entry's content, stored or
// deflated, checked against its CRC-32. Checkpoints (common/zip_integrity) and zipped image sets
// (common/data/folder) read through it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace genbox {

struct ZipEntry {
  std::string name;
  uint64_t header = 0;  // offset of its local header
  uint64_t size = 0, compressed = 0;
  uint32_t crc = 0;
  uint64_t method = 0;  // 0 stored, 8 deflated
};

struct ZipDirectory {
  uint64_t end = 0;      // offset of the end-of-central-directory record
  uint64_t comment = 0;  // the comment's length; it ends the file
  std::vector<ZipEntry> entries;
};

// The directory of the archive in `bytes`. A DataError "SOURCE: not a readable KIND (why)" or
// "SOURCE: damaged: ..." when it cannot be read; no entry may claim more bytes than the file has
// (a deflated one: than deflate's 1032:1 makes of its compressed bytes).
ZipDirectory read_zip_directory(std::string_view bytes, const std::string& source, const std::string& kind);

// The entry's bytes as stored (compressed or not), once its local header agrees with the
// directory; a DataError naming the entry otherwise.
std::string_view zip_entry_span(std::string_view bytes, const ZipEntry& entry, const std::string& source);

// The entry's content: stored or deflated, at most `max_size` bytes, matching its CRC-32.
std::string zip_entry_content(std::string_view bytes, const ZipEntry& entry, const std::string& source,
                              uint64_t max_size);

}  // namespace genbox
