// Closed forms the resamplers must meet without Pillow at hand; the Pillow comparison itself is
// in test_folder.cpp ("every kind of image ...").
#include <doctest/doctest.h>

#include <random>
#include <tuple>

#include "common/data/resample.hpp"

using namespace genbox;

namespace {
ImageU8 random_image(int64_t h, int64_t w, int64_t c, unsigned seed) {
  std::mt19937 random(seed);
  ImageU8 image{h, w, c, std::vector<uint8_t>(size_t(h * w * c))};
  for (uint8_t& p : image.pixels) p = static_cast<uint8_t>(random() % 256);
  return image;
}
}  // namespace

TEST_CASE("halving with the box filter averages each 2 x 2 block, rounded half up, in Pillow's pass order") {
  auto mean2 = [](int a, int b) { return (a + b + 1) / 2; };
  // Wide and square images are averaged along rows first; an image more than twice as tall as wide down
  // its columns first (Pillow's rule), which rounds differently.
  for (const auto& [h, w, c] : {std::tuple<int64_t, int64_t, int64_t>{6, 8, 3}, {4, 4, 1}, {10, 2, 4}, {12, 4, 3}}) {
    CAPTURE(h);
    CAPTURE(w);
    const ImageU8 image = random_image(h, w, c, unsigned(h * w * c));
    const ImageU8 half = resize_box(image, h / 2, w / 2);
    REQUIRE(half.pixels.size() == size_t(h / 2 * w / 2 * c));
    auto at = [&](int64_t y, int64_t x, int64_t k) { return int(image.pixels[size_t((y * w + x) * c + k)]); };
    const bool rows_first = !(h / 2 > w / 2 * 2);
    for (int64_t y = 0; y < h / 2; ++y)
      for (int64_t x = 0; x < w / 2; ++x)
        for (int64_t k = 0; k < c; ++k) {
          const int a = at(2 * y, 2 * x, k), b = at(2 * y, 2 * x + 1, k), d = at(2 * y + 1, 2 * x, k),
                    e = at(2 * y + 1, 2 * x + 1, k);
          const int expected = rows_first ? mean2(mean2(a, b), mean2(d, e)) : mean2(mean2(a, d), mean2(b, e));
          CHECK(half.pixels[size_t(((y * (w / 2)) + x) * c + k)] == expected);
        }
  }
}

TEST_CASE("a resize to the same size is the image, a constant image stays constant, and the centre crop is central") {
  const ImageU8 image = random_image(9, 7, 1, 2);
  CHECK(resize_bicubic(image, 9, 7).pixels == image.pixels);
  ImageU8 flat{40, 30, 3, std::vector<uint8_t>(40 * 30 * 3, 77)};
  for (auto [h, w] : {std::pair<int64_t, int64_t>{13, 11}, {80, 90}, {7, 30}}) {
    CHECK(resize_bicubic(flat, h, w).pixels == std::vector<uint8_t>(size_t(h * w * 3), 77));
    CHECK(resize_box(flat, h, w).pixels == std::vector<uint8_t>(size_t(h * w * 3), 77));
  }
  // A 10 x 20 image to 10 x 10 needs no resize (scale 1): the crop is columns 5 .. 14.
  const ImageU8 wide = random_image(10, 20, 1, 3);
  const ImageU8 crop = center_crop(wide, 10, 10);
  for (int64_t y = 0; y < 10; ++y)
    for (int64_t x = 0; x < 10; ++x) CHECK(crop.pixels[size_t(y * 10 + x)] == wide.pixels[size_t(y * 20 + x + 5)]);
}
