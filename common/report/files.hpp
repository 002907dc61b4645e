// Whole-file reads and all-or-nothing writes for the report outputs.
#pragma once

#include <filesystem>
#include <string>

namespace genbox::report {

// The file's bytes; throws std::runtime_error naming the path when it cannot be read.
std::string read_file(const std::filesystem::path& path);

// Writes a temporary file beside `path` and renames it over `path`, so a reader (a browser
// refreshing the report, a spreadsheet) never sees half a file. Throws std::runtime_error naming
// the path on failure, leaving no temporary file behind.
void write_file_atomically(const std::filesystem::path& path, const std::string& content);

}  // namespace genbox::report
