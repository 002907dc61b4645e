#include "base/fsutil.hpp"

#include <cstdlib>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "base/errors.hpp"

namespace genbox {

std::filesystem::path temporary_sibling(const std::filesystem::path& path) {
  // The process id keeps two concurrent writers of the same file off each other's temporary.
  return path.parent_path() / fmt::format(".{}.tmp.{}", path.filename().string(), getpid());
}

void write_file_atomic(const std::filesystem::path& path, const std::string& content) {
  write_file_atomic(path, {std::string_view(content)});
}

void write_file_atomic(const std::filesystem::path& path, std::initializer_list<std::string_view> parts) {
  std::filesystem::path tmp = temporary_sibling(path);
  auto fail = [&](const std::string& reason) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw DataError(fmt::format("{}: cannot write: {}", path.string(), reason));
  };
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail(std::strerror(errno));
  bool ok = true;
  for (std::string_view part : parts) ok = ok && std::fwrite(part.data(), 1, part.size(), f) == part.size();
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
  auto fail = [&](const std::string& reason) {
    return DataError(fmt::format("{}: cannot read: {}", path.string(), reason));
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw fail(std::strerror(errno));
  const std::unique_ptr<const int, void (*)(const int*)> closer(&fd, [](const int* f) { ::close(*f); });
  struct stat info {};
  if (fstat(fd, &info) != 0) throw fail(std::strerror(errno));
  if (S_ISDIR(info.st_mode)) throw DataError(fmt::format("{}: is a directory, not a file", path.string()));
  // A regular file is read up to its length at open: a metrics file can be 100 MB, and one
  // that is still growing is read up to that length (its torn tail is the reader's business).
  // Anything else (a pipe, a device) is read to its end.
  const bool regular = S_ISREG(info.st_mode);
  std::string content(regular ? static_cast<std::size_t>(info.st_size) : 0, '\0');
  std::size_t filled = 0;
  for (;;) {
    if (filled == content.size()) {
      if (regular) break;
      content.resize(content.size() + (1 << 16));
    }
    const ssize_t got = ::read(fd, content.data() + filled, content.size() - filled);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw fail(std::strerror(errno));
    if (got == 0) break;
    filled += static_cast<std::size_t>(got);
  }
  content.resize(filled);
  return content;
}

MappedFile::MappedFile(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw DataError(fmt::format("{}: cannot read: {}", path.string(), std::strerror(errno)));
  struct stat info {};
  const bool regular = fstat(fd, &info) == 0 && S_ISREG(info.st_mode);
  size_ = regular ? static_cast<size_t>(info.st_size) : 0;
  void* mapped = size_ > 0 ? mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0) : MAP_FAILED;
  const int error = errno;
  ::close(fd);
  if (!regular) throw DataError(fmt::format("{}: not a regular file", path.string()));
  if (size_ == 0) throw DataError(fmt::format("{}: empty", path.string()));
  if (mapped == MAP_FAILED)
    throw DataError(fmt::format("{}: cannot be mapped: {}", path.string(), std::strerror(error)));
  data_ = static_cast<char*>(mapped);
}

MappedFile::~MappedFile() { munmap(data_, size_); }

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

std::string json_kind(const nlohmann::json& value) {
  if (value.is_null()) return "null";
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  if (value.is_number()) return "the number " + value.dump();
  if (value.is_string()) return "a string";
  return value.is_array() ? "an array" : "an object";
}

std::filesystem::path user_cache_home() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  return xdg && *xdg ? std::filesystem::path(xdg) : std::filesystem::path(home && *home ? home : "/tmp") / ".cache";
}

}  // namespace genbox
