// Closed forms the resamplers must meet without Pillow at hand; the Pillow comparison itself is
// in test_folder.cpp ("every kind of image ...").
#include <doctest/doctest.h>

#include <random>

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

TEST_CASE("halving with the box filter averages each 2 x 2 block, rounded half up") {
  const ImageU8 image = random_image(6, 8, 3, 1);
  const ImageU8 half = resize_box(image, 3, 4);
  REQUIRE(half.pixels.size() == 3 * 4 * 3);
  for (int64_t y = 0; y < 3; ++y)
    for (int64_t x = 0; x < 4; ++x)
      for (int64_t c = 0; c < 3; ++c) {
        // Each pass rounds: the horizontal pair mean, then the vertical mean of those.
        auto mean2 = [](int a, int b) { return (a + b + 1) / 2; };
        const int top = mean2(image.pixels[size_t(((2 * y) * 8 + 2 * x) * 3 + c)],
                              image.pixels[size_t(((2 * y) * 8 + 2 * x + 1) * 3 + c)]);
        const int bottom = mean2(image.pixels[size_t(((2 * y + 1) * 8 + 2 * x) * 3 + c)],
                                 image.pixels[size_t(((2 * y + 1) * 8 + 2 * x + 1) * 3 + c)]);
        CHECK(half.pixels[size_t((y * 4 + x) * 3 + c)] == mean2(top, bottom));
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
