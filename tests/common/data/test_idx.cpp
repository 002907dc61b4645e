#include <doctest/doctest.h>

#include <fmt/format.h>
#include <malloc.h>
#include <zlib.h>

#include <torch/torch.h>

#include "base/errors.hpp"
#include "common/data/datasets.hpp"
#include "common/data/idx.hpp"
#include "tests/support.hpp"

using namespace genbox;
using genbox::testing::TempDir;
using genbox::testing::write_text;

namespace {
// A 2 x 3 x 2 ubyte array: values 0..11.
IdxArray small_array() {
  IdxArray a;
  a.dims = {2, 3, 2};
  for (uint8_t i = 0; i < 12; ++i) a.data.push_back(i);
  return a;
}

std::string bytes_of(const IdxArray& a) {
  std::string out = {0, 0, 8, static_cast<char>(a.dims.size())};
  for (int64_t n : a.dims)
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((n >> shift) & 0xff);
  return out + std::string(a.data.begin(), a.data.end());
}

void write_gzip(const std::filesystem::path& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

std::string error_of(const std::string& path) {
  try {
    read_idx(path);
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("raw and gzipped IDX files read to the same dimensions and bytes") {
  TempDir dir;
  IdxArray a = small_array();
  write_idx((dir / "a.idx").string(), a);
  CHECK(genbox::testing::read_text(dir / "a.idx") == bytes_of(a));
  write_gzip(dir / "a.idx.gz", bytes_of(a));
  for (const char* name : {"a.idx", "a.idx.gz"}) {
    IdxArray back = read_idx((dir / name).string());
    CHECK(back.dims == a.dims);
    CHECK(back.data == a.data);
  }
}

TEST_CASE("a data set of many pages reads back the same from raw and gzipped files") {
  TempDir dir;
  IdxArray a;
  a.dims = {3, 1000, 7};
  for (int64_t i = 0; i < 3 * 1000 * 7; ++i) a.data.push_back(static_cast<uint8_t>(i * 7919 % 251));
  write_idx((dir / "big.idx").string(), a);
  write_gzip(dir / "big.idx.gz", bytes_of(a));
  IdxArray raw = read_idx((dir / "big.idx").string());
  IdxArray gzipped = read_idx((dir / "big.idx.gz").string());
  CHECK(raw.dims == a.dims);
  CHECK(raw.data == a.data);
  CHECK(gzipped.data == a.data);
}

TEST_CASE("a header claiming more data than its file can hold is refused before reading it") {
  TempDir dir;
  IdxArray a = small_array();
  a.dims = {1 << 20, 1 << 10, 1};  // 1 GiB claimed by a gzip file of a few dozen bytes
  std::string path = (dir / "claims.gz").string();
  write_gzip(path, bytes_of(a));
  const auto file_bytes = std::filesystem::file_size(path);
  CHECK(error_of(path) == fmt::format("{}: corrupt: header says {} bytes of data, more than {} compressed bytes can "
                                      "hold",
                                      path, int64_t(1) << 30, file_bytes));
  // Raw, the file's size alone says how much data it holds.
  write_text(dir / "claims.idx", bytes_of(a));
  CHECK(error_of((dir / "claims.idx").string()) ==
        (dir / "claims.idx").string() + ": truncated: header says 1073741824 bytes of data, found 12");
}

TEST_CASE("a data set's bytes are mapped outside malloc's heap") {
  TempDir dir;
  IdxArray a;
  a.dims = {4 << 20};
  a.data.assign(size_t(4) << 20, 9);
  write_idx((dir / "a.idx").string(), a);
  const size_t before = mallinfo2().uordblks + mallinfo2().hblkhd;
  IdxArray back = read_idx((dir / "a.idx").string());
  CHECK(back.data.size() == size_t(4) << 20);
  CHECK(mallinfo2().uordblks + mallinfo2().hblkhd < before + (size_t(1) << 20));
}

TEST_CASE("a truncated file says how much data was missing") {
  TempDir dir;
  std::string bytes = bytes_of(small_array());
  std::string path = (dir / "short.idx").string();
  write_text(path, bytes.substr(0, bytes.size() - 5));
  CHECK(error_of(path) == path + ": truncated: header says 12 bytes of data, found 7");
  write_gzip(dir / "short.gz", bytes.substr(0, bytes.size() - 5));
  CHECK(error_of((dir / "short.gz").string()).find("truncated: header says 12 bytes of data, found 7") !=
        std::string::npos);
  write_text(path, bytes.substr(0, 9));
  CHECK(error_of(path) == path + ": truncated: header ends inside dimension 2 of 3");
  write_text(path, "");
  CHECK(error_of(path) == path + ": truncated: shorter than the 4-byte IDX magic");
}

TEST_CASE("bad magic, unsupported types and trailing data are rejected") {
  TempDir dir;
  std::string path = (dir / "bad.idx").string();
  std::string bytes = bytes_of(small_array());
  write_text(path, "\x89PNG" + bytes.substr(4));
  CHECK(error_of(path) == path + ": not an IDX file: magic bytes are 89 50 4e 47, expected 00 00 <type> <1..8 dims>");
  std::string floats = bytes;
  floats[2] = 0x0d;
  write_text(path, floats);
  CHECK(error_of(path) == path + ": IDX element type 0x0d is not supported (only unsigned bytes, 0x08)");
  write_text(path, bytes + "x");
  CHECK(error_of(path) == path + ": corrupt: data continues past the 12 bytes the header describes");
}

TEST_CASE("a missing file is an error naming it") {
  CHECK(error_of("/nonexistent/x.idx") == "/nonexistent/x.idx: no such file");
}

TEST_CASE("an IDX image set loads as uint8 N x 1 x H x W with int64 labels") {
  TempDir dir;
  IdxArray images = small_array();
  IdxArray labels;
  labels.dims = {2};
  labels.data = {7, 3};
  write_idx((dir / "t10k-images-idx3-ubyte").string(), images);
  write_gzip(dir / "t10k-labels-idx1-ubyte.gz", bytes_of(labels));
  ImageDataset test = load_idx_dataset(dir.path().string(), "test");
  CHECK(test.images.sizes() == torch::IntArrayRef({2, 1, 3, 2}));
  CHECK(test.images.dtype() == torch::kUInt8);
  CHECK(test.images[1][0][2][1].item<int>() == 11);
  CHECK(test.labels.dtype() == torch::kInt64);
  CHECK(test.labels[0].item<int64_t>() == 7);
  CHECK(load_idx_dataset(dir.path().string(), "test", 1).size() == 1);
}

TEST_CASE("a missing dataset names the path and, for the default root, the package") {
  TempDir dir;
  CHECK_THROWS_WITH(load_idx_dataset((dir / "absent").string(), "train"),
                    doctest::Contains("absent/train-images-idx3-ubyte.gz (or without .gz): no such file"));
  CHECK_THROWS_WITH(load_idx_dataset((dir / "absent").string(), "train"), doctest::Contains("data.root"));
  IdxArray labels;
  labels.dims = {3};
  labels.data = {1, 2, 3};
  write_idx((dir / "train-images-idx3-ubyte").string(), small_array());
  write_idx((dir / "train-labels-idx1-ubyte").string(), labels);
  CHECK_THROWS_WITH(load_idx_dataset(dir.path().string(), "train"), doctest::Contains("3 labels for 2 images"));
}
