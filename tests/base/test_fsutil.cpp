#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "base/errors.hpp"
#include "base/fsutil.hpp"
#include "tests/support.hpp"

using namespace genbox;
using namespace genbox::testing;

TEST_CASE("a mapped file holds the file's bytes, and writes to the mapping stay in the process") {
  TempDir dir;
  std::string content(70000, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 131 % 251);
  write_file_atomic(dir / "data.bin", content);
  {
    const MappedFile mapped(dir / "data.bin");
    CHECK(mapped.bytes() == content);
    mapped.data()[5] = 'x';
    CHECK(mapped.bytes()[5] == 'x');
  }
  CHECK(read_file(dir / "data.bin") == content);

  write_file_atomic(dir / "empty.bin", "");
  CHECK(data_error_of([&] { MappedFile(dir / "empty.bin"); }) == (dir / "empty.bin").string() + ": empty");
  CHECK(data_error_of([&] { MappedFile(dir.path()); }) == dir.path().string() + ": not a regular file");
  CHECK(data_error_of([&] { MappedFile(dir / "absent.bin"); }) ==
        (dir / "absent.bin").string() + ": cannot read: No such file or directory");
}
