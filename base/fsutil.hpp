// Files that matter are written whole or not at all.
#pragma once

#include <filesystem>
#include <string>

namespace genbox {

// Writes to a temporary file beside `path`, then renames it over `path`.
void write_file_atomic(const std::filesystem::path& path, const std::string& content);

std::string read_file(const std::filesystem::path& path);

// A temporary name beside `path` for an atomic replace of it.
std::filesystem::path temporary_sibling(const std::filesystem::path& path);

}  // namespace genbox
