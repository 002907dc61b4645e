#include <doctest/doctest.h>

#include <torch/torch.h>

#include "base/errors.hpp"
#include "common/images.hpp"
#include "tests/support.hpp"

using namespace genbox;
using genbox::testing::TempDir;

TEST_CASE("make_grid tiles images row-major with padding between them") {
  // Three 1x2x2 images of constant values 0.1, 0.2, 0.3, two per row, 1 pixel of padding.
  torch::Tensor images = torch::tensor({0.1f, 0.2f, 0.3f}).view({3, 1, 1, 1}).expand({3, 1, 2, 2});
  torch::Tensor grid = make_grid(images, 2, 1, 1.0);
  CHECK(grid.sizes() == torch::IntArrayRef({1, 7, 7}));
  auto at = [&](int64_t r, int64_t c) { return grid[0][r][c].item<float>(); };
  CHECK(at(0, 0) == 1.0f);                   // padding
  CHECK(at(1, 1) == doctest::Approx(0.1f));  // first image, top-left
  CHECK(at(2, 2) == doctest::Approx(0.1f));
  CHECK(at(1, 3) == 1.0f);                   // padding between columns
  CHECK(at(1, 4) == doctest::Approx(0.2f));  // second image
  CHECK(at(4, 1) == doctest::Approx(0.3f));  // third image starts the second row
  CHECK(at(4, 4) == 1.0f);                   // empty cell stays padding
  CHECK(grid.sum().item<float>() == doctest::Approx(49 - 12 + 4 * (0.1 + 0.2 + 0.3)));
}

TEST_CASE("PNG written then read gives back the 8-bit pixels") {
  TempDir dir;
  torch::Tensor image = torch::arange(3 * 4 * 5, torch::kFloat32).view({3, 4, 5}) / 59.0;
  write_png(dir / "x.png", image);
  torch::Tensor back = read_image(dir / "x.png");
  CHECK(back.sizes() == image.sizes());
  CHECK(torch::allclose(back, (image * 255).round() / 255, 0, 1e-6));
  torch::Tensor gray = read_image(dir / "x.png", 1);
  CHECK(gray.size(0) == 1);
}

TEST_CASE("a file that is not an image is a DataError naming it") {
  TempDir dir;
  genbox::testing::write_text(dir / "bad.png", "not a png");
  CHECK_THROWS_AS(read_image(dir / "bad.png"), DataError);
}

TEST_CASE("the colour map runs from its first to its last anchor") {
  torch::Tensor rgb = colormap(torch::tensor({0.0f, 1.0f}).view({1, 2}));
  CHECK(rgb.sizes() == torch::IntArrayRef({3, 1, 2}));
  CHECK(rgb[0][0][0].item<float>() == doctest::Approx(0.267f));
  CHECK(rgb[2][0][1].item<float>() == doctest::Approx(0.144f));
}
