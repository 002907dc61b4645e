#include "base/fsutil.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "base/errors.hpp"

namespace genbox {

std::filesystem::path temporary_sibling(const std::filesystem::path& path) {
  // The process id keeps two concurrent writers of the same file off each other's temporary.
  return path.parent_path() / fmt::format(".{}.tmp.{}", path.filename().string(), getpid());
}

void write_file_atomic(const std::filesystem::path& path, const std::string& content) {
  std::filesystem::path tmp = temporary_sibling(path);
  auto fail = [&](const std::string& reason) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw DataError(fmt::format("{}: cannot write: {}", path.string(), reason));
  };
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail(std::strerror(errno));
  bool ok = std::fwrite(content.data(), 1, content.size(), f) == content.size();
  ok = std::fflush(f) == 0 && ok;
  ok = fsync(fileno(f)) == 0 && ok;
  int saved_errno = errno;
  ok = std::fclose(f) == 0 && ok;
  if (!ok) fail(std::strerror(saved_errno));
  std::error_code error;
  std::filesystem::rename(tmp, path, error);
  if (error) fail(error.message());
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw DataError(fmt::format("{}: cannot read: {}", path.string(), std::strerror(errno)));
  // Sized once from the length at open: a metrics file can be 100 MB, and one that is still
  // growing is read up to that length (its torn tail is the reader's business).
  std::string content(static_cast<std::size_t>(in.tellg()), '\0');
  in.seekg(0);
  in.read(content.data(), static_cast<std::streamsize>(content.size()));
  content.resize(static_cast<std::size_t>(in.gcount()));
  return content;
}

nlohmann::json parse_json(const std::string& text, const std::string& source, int max_depth) {
  try {
    return nlohmann::json::parse(text, [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
      if (depth > max_depth) throw DataError(fmt::format("{}: JSON nested deeper than {} levels", source, max_depth));
      return true;
    });
  } catch (const nlohmann::json::exception& e) {
    throw DataError(fmt::format("{}: not valid JSON ({})", source, e.what()));
  }
}

}  // namespace genbox
