#include <doctest/doctest.h>

#include <torch/torch.h>

#include "base/errors.hpp"
#include "common/data/cifar.hpp"
#include "tests/support.hpp"

using namespace genbox;
using namespace genbox::testing;

namespace {
// The pixel a record's byte at `offset` (after its labels) holds, by the release's own layout:
// red plane, green plane, blue plane, each 32 rows of 32 bytes.
uint8_t byte_of(int64_t record, int64_t offset) { return static_cast<uint8_t>((record * 7 + offset * 13) % 251); }

// `n` records written byte by byte as the release lays them out, independently of write_cifar.
std::string raw_records(int64_t n, int label_bytes, const std::function<uint8_t(int64_t)>& label) {
  std::string bytes;
  for (int64_t r = 0; r < n; ++r) {
    if (label_bytes == 2) bytes += static_cast<char>(label(r) / 5);
    bytes += static_cast<char>(label(r));
    for (int64_t i = 0; i < 3072; ++i) bytes += static_cast<char>(byte_of(r, i));
  }
  return bytes;
}

}  // namespace

TEST_CASE("CIFAR-10's binary batches read as [N, 3, 32, 32] planes with their labels") {
  TempDir dir;
  for (int b = 1; b <= 5; ++b)
    write_text(dir / ("data_batch_" + std::to_string(b) + ".bin"),
               raw_records(3, 1, [&](int64_t r) { return static_cast<uint8_t>((b + r) % 10); }));
  write_text(dir / "test_batch.bin", raw_records(4, 1, [](int64_t r) { return static_cast<uint8_t>(9 - r); }));
  ImageDataset train = load_cifar(dir.path().string(), {"cifar10"}, "train");
  REQUIRE(train.images.sizes() == torch::IntArrayRef({15, 3, 32, 32}));
  REQUIRE(train.images.dtype() == torch::kUInt8);
  // Record r of batch b is image 3 (b - 1) + r; channel c, row y, column x is byte c*1024 + y*32 + x.
  for (int64_t i : {0, 4, 14})
    for (auto [c, y, x] : {std::tuple<int64_t, int64_t, int64_t>{0, 0, 0}, {1, 5, 31}, {2, 31, 7}}) {
      CAPTURE(i);
      CHECK(train.images[i][c][y][x].item<int64_t>() == byte_of(i % 3, c * 1024 + y * 32 + x));
    }
  CHECK(train.labels[4].item<int64_t>() == (2 + 1) % 10);
  ImageDataset test = load_cifar(dir.path().string(), {"cifar10"}, "test");
  CHECK(test.labels.equal(torch::tensor({9, 8, 7, 6}, torch::kLong)));
  // The release's own folder name under root is found too, and a limit keeps the first images.
  std::filesystem::create_directory(dir / "cifar-10-batches-bin");
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    if (e.path().extension() == ".bin")
      std::filesystem::rename(e.path(), dir / "cifar-10-batches-bin" / e.path().filename());
  ImageDataset limited = load_cifar(dir.path().string(), {"cifar10"}, "train", 5);
  CHECK(limited.images.equal(train.images.narrow(0, 0, 5)));
}

TEST_CASE("CIFAR-100 reads its fine or its coarse labels, and write_cifar round-trips") {
  TempDir dir;
  auto fine = [](int64_t r) { return static_cast<uint8_t>(97 - 3 * r); };
  write_text(dir / "train.bin", raw_records(6, 2, fine));
  write_text(dir / "test.bin", raw_records(2, 2, fine));
  ImageDataset with_fine = load_cifar(dir.path().string(), {"cifar100", false}, "train");
  ImageDataset with_coarse = load_cifar(dir.path().string(), {"cifar100", true}, "train");
  for (int64_t r = 0; r < 6; ++r) {
    CHECK(with_fine.labels[r].item<int64_t>() == fine(r));
    CHECK(with_coarse.labels[r].item<int64_t>() == fine(r) / 5);
  }
  CHECK(with_fine.images.equal(with_coarse.images));
  CHECK(with_fine.images[5][2][31][31].item<int64_t>() == byte_of(5, 3071));
  write_cifar((dir / "copy.bin").string(), {"cifar100"}, with_fine);
  CHECK(read_text(dir / "copy.bin") == read_text(dir / "train.bin"));
}

TEST_CASE("a CIFAR file of the wrong length, a label out of range or a missing file names the file") {
  TempDir dir;
  write_text(dir / "test_batch.bin", raw_records(2, 1, [](int64_t) { return uint8_t(1); }) + "x");
  CHECK(data_error_of([&] { load_cifar(dir.path().string(), {"cifar10"}, "test"); }) ==
        (dir / "test_batch.bin").string() +
            ": 6147 bytes is not a whole number of 3073-byte records (1 label byte and 32 x 32 x 3 pixels each)");
  write_text(dir / "test_batch.bin", raw_records(3, 1, [](int64_t r) { return uint8_t(r == 2 ? 10 : 1); }));
  CHECK(data_error_of([&] { load_cifar(dir.path().string(), {"cifar10"}, "test"); }) ==
        (dir / "test_batch.bin").string() + ": record 2 has label 10; CIFAR-10 labels run from 0 to 9");
  write_text(dir / "test_batch.bin", "");
  CHECK(data_error_of([&] {
          load_cifar(dir.path().string(), {"cifar10"}, "test");
        }).find("0 bytes is not a whole number") != std::string::npos);
  CHECK(data_error_of([&] { load_cifar(dir.path().string(), {"cifar10"}, "train"); })
            .find("cifar-10-batches-bin/data_batch_1.bin: no such file; point data.root at the folder of the CIFAR-10 "
                  "binary version") != std::string::npos);
}
