#include <doctest/doctest.h>

#include <torch/torch.h>

#include "common/data/prepared_cache.hpp"
#include "common/images.hpp"
#include "tests/support.hpp"

using namespace genbox;
using namespace genbox::testing;

namespace {
void png(const std::filesystem::path& path, int64_t h, int64_t w, int64_t seed) {
  std::filesystem::create_directories(path.parent_path());
  torch::manual_seed(seed);
  write_png(path, torch::rand({3, h, w}));
}

std::vector<std::filesystem::path> cache_files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  if (std::filesystem::exists(dir))
    for (const auto& e : std::filesystem::directory_iterator(dir)) files.push_back(e.path());
  return files;
}
}  // namespace

TEST_CASE("a prepared set is decoded once, read back mapped, and decoded again when a file changes or it is damaged") {
  TempDir dir;
  for (int64_t i = 0; i < 6; ++i)
    png(dir / "images" / (i < 3 ? "a" : "b") / (std::to_string(i) + ".png"), 9 + i, 14, i);
  write_text(dir / "images/b/broken.png", "not a png");
  const ImageFolder folder = list_image_folder(dir / "images");
  ImageGeometry geometry;
  geometry.size = {8};
  geometry.skip_bad_images = true;
  const std::filesystem::path cache = dir / "cache";

  const DecodedImages first = prepared_images(folder, geometry, {}, cache);
  CHECK_FALSE(first.from_cache);
  REQUIRE(cache_files(cache).size() == 1);
  const std::filesystem::path stored = cache_files(cache)[0];
  const DecodedImages again = prepared_images(folder, geometry, {}, cache);
  CHECK(again.from_cache);
  CHECK(again.data.images.equal(first.data.images));
  CHECK(again.data.labels.equal(first.data.labels));
  CHECK(again.skipped == first.skipped);
  CHECK(again.skipped.size() == 1);
  // Another subset or geometry is another prepared set.
  CHECK_FALSE(prepared_images(folder, geometry, {0, 1}, cache).from_cache);
  geometry.channels = 1;
  CHECK_FALSE(prepared_images(folder, geometry, {}, cache).from_cache);
  geometry.channels = 3;
  CHECK(cache_files(cache).size() == 3);

  // A byte flipped in the pixels, or a cut file: decoded again, the same, and the file rewritten.
  std::string bytes = read_text(stored);
  bytes[bytes.size() - 10] ^= 1;
  write_text(stored, bytes);
  const DecodedImages repaired = prepared_images(folder, geometry, {}, cache);
  CHECK_FALSE(repaired.from_cache);
  CHECK(repaired.data.images.equal(first.data.images));
  CHECK(prepared_images(folder, geometry, {}, cache).from_cache);
  write_text(stored, read_text(stored).substr(0, 100));
  CHECK_FALSE(prepared_images(folder, geometry, {}, cache).from_cache);
  CHECK(prepared_images(folder, geometry, {}, cache).from_cache);

  // A changed image makes another key: the new content is decoded, not the stale set read.
  png(dir / "images/a/0.png", 30, 30, 99);
  const DecodedImages changed = prepared_images(list_image_folder(dir / "images"), geometry, {}, cache);
  CHECK_FALSE(changed.from_cache);
  CHECK_FALSE(changed.data.images.equal(first.data.images));
}
