// Files that matter are written whole or not at all.
#pragma once

#include <filesystem>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace genbox {

// Writes to a temporary file beside `path`, then renames it over `path`. On any failure (a full
// disk, permissions) the temporary is removed and a DataError names the file and the reason.
void write_file_atomic(const std::filesystem::path& path, const std::string& content);
// The same for content in parts, written one after another (no copy into one string).
void write_file_atomic(const std::filesystem::path& path, std::initializer_list<std::string_view> parts);

// The whole file; a DataError naming it and the OS's reason when it cannot be read.
std::string read_file(const std::filesystem::path& path);

// A regular file mapped copy-on-write (writes through data() stay in this process: a tensor may
// be built on the bytes), unmapped when the object goes. A DataError naming the file when it
// cannot be opened ("cannot read: REASON"), is not a regular file or is empty.
class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  std::string_view bytes() const { return {data_, size_}; }
  char* data() const { return data_; }

 private:
  char* data_ = nullptr;
  size_t size_ = 0;
};

// JSON text from `source` (a path, for messages), nested at most `max_depth` levels: anything
// malformed or deeper is a DataError naming the source, never a crash on a hostile file.
nlohmann::json parse_json(const std::string& text, const std::string& source, int max_depth = 64);

// What a JSON value is, for messages about a file whose value has the wrong type: "a string",
// "an array", "null", "the number -3", ...
std::string json_kind(const nlohmann::json& value);

// A temporary name beside `path` for an atomic replace of it.
std::filesystem::path temporary_sibling(const std::filesystem::path& path);

// The user's cache folder: $XDG_CACHE_HOME, or ~/.cache (/tmp/.cache without a home). genbox keeps
// its caches under genbox/ in it; torch's hub under torch/.
std::filesystem::path user_cache_home();

}  // namespace genbox
