#include <doctest/doctest.h>
#include <torch/torch.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "detection/draw.hpp"

using namespace genbox::detection;
using torch::indexing::Slice;

namespace {
bool has_color(const torch::Tensor& rgb, int64_t x, int64_t y, const std::array<float, 3>& color) {
  for (int c = 0; c < 3; ++c)
    if (rgb[c][y][x].item<float>() != color[c]) return false;
  return true;
}
}  // namespace

TEST_CASE("to_rgb repeats gray into three channels and enlarges by whole pixels") {
  torch::Tensor gray = torch::tensor({{{0, 255}, {51, 102}}}, torch::kUInt8);
  torch::Tensor rgb = to_rgb(gray, 3);
  REQUIRE(rgb.sizes() == torch::IntArrayRef({3, 6, 6}));
  CHECK(rgb[2][4][1].item<float>() == doctest::Approx(0.2));
  CHECK(rgb[0][0][5].item<float>() == 1.0f);
  CHECK(torch::equal(rgb[0], rgb[1]));
  CHECK_THROWS_AS(to_rgb(torch::zeros({2, 4, 4})), std::invalid_argument);
}

TEST_CASE("a box is an outline in its class colour with a label patch above it") {
  torch::Tensor black = torch::zeros({3, 24, 24});
  // Box over pixels x 5..14, y 10..17; class 1 labelled "1" on rows 3..9 (5 font rows + 2).
  torch::Tensor out = draw_boxes(black, torch::tensor({{5.0f, 10.0f, 15.0f, 18.0f}}), torch::tensor({1}));
  auto color = class_color(1);
  for (int64_t x = 5; x < 15; ++x) {
    CHECK(has_color(out, x, 10, color));
    CHECK(has_color(out, x, 17, color));
  }
  for (int64_t y = 10; y < 18; ++y) {
    CHECK(has_color(out, 5, y, color));
    CHECK(has_color(out, 14, y, color));
  }
  CHECK(out.index({Slice(), Slice(11, 17), Slice(6, 14)}).abs().sum().item<float>() == 0);  // the inside stays
  CHECK(out.index({Slice(), Slice(0, 3)}).abs().sum().item<float>() == 0);                  // above the label too
  // The glyph "1" starts one pixel into the patch: its top row is .#. (black in the middle).
  CHECK(has_color(out, 6, 4, color));
  CHECK(has_color(out, 7, 4, {0, 0, 0}));
  CHECK(has_color(out, 8, 4, color));
  // Its bottom row is ###.
  for (int64_t x = 6; x < 9; ++x) CHECK(has_color(out, x, 8, {0, 0, 0}));
  CHECK(torch::equal(black, torch::zeros({3, 24, 24})));  // the input is left alone
}

TEST_CASE("scores widen the label, dashes break the outline, coordinates scale, boxes clip") {
  torch::Tensor black = torch::zeros({3, 40, 40});
  auto color = class_color(2);
  torch::Tensor scored =
      draw_boxes(black, torch::tensor({{2.0f, 20.0f, 30.0f, 30.0f}}), torch::tensor({2}), torch::tensor({0.5f}));
  // "2 .50": five characters of 4 pixels and one more: the patch spans x 2..22 on rows 13..19.
  CHECK(has_color(scored, 22, 13, color));
  CHECK_FALSE(has_color(scored, 23, 13, color));

  torch::Tensor dashed =
      draw_boxes(black, torch::tensor({{0.0f, 20.0f, 30.0f, 30.0f}}), torch::tensor({2}), {}, BoxStyle{1, true, 1});
  int64_t lit = 0;
  for (int64_t x = 0; x < 30; ++x) lit += has_color(dashed, x, 29, color);
  CHECK(lit == 16);  // two on, two off along 30 pixels

  // Coordinates in a 10 x 10 frame drawn on a 40 x 40 enlargement; a box past the edge is clipped.
  torch::Tensor scaled =
      draw_boxes(black, torch::tensor({{5.0f, 5.0f, 20.0f, 20.0f}}), torch::tensor({0}), {}, BoxStyle{4, false, 1});
  CHECK(has_color(scaled, 20, 25, class_color(0)));
  CHECK(has_color(scaled, 39, 25, class_color(0)) == false);
  CHECK(has_color(scaled, 25, 20, class_color(0)));
}

TEST_CASE("boxes are labelled with their class names in capitals, or indices past the names") {
  torch::Tensor black = torch::zeros({3, 24, 40});
  BoxStyle style;
  style.class_names = {"Coat", "Bag"};
  torch::Tensor out = draw_boxes(black, torch::tensor({{2.0f, 10.0f, 30.0f, 20.0f}}), torch::tensor({1}), {}, style);
  auto color = class_color(1);
  // "Bag": three characters, the patch spans x 2..14 on rows 3..9; glyphs start at x 3, 7, 11.
  CHECK(has_color(out, 14, 3, color));
  CHECK_FALSE(has_color(out, 15, 3, color));
  // B's top row is ##. and A's (the lower-case a drawn as a capital) .#.
  CHECK(has_color(out, 3, 4, {0, 0, 0}));
  CHECK(has_color(out, 4, 4, {0, 0, 0}));
  CHECK(has_color(out, 5, 4, color));
  CHECK(has_color(out, 7, 4, color));
  CHECK(has_color(out, 8, 4, {0, 0, 0}));
  CHECK(has_color(out, 9, 4, color));
  // Class 7 has no name in the list: labelled "7", one character wide.
  torch::Tensor unnamed =
      draw_boxes(black, torch::tensor({{2.0f, 10.0f, 30.0f, 20.0f}}), torch::tensor({7}), {}, style);
  CHECK(has_color(unnamed, 6, 3, class_color(7)));
  CHECK_FALSE(has_color(unnamed, 7, 3, class_color(7)));
}

TEST_CASE("every letter, digit and sign of the font has its own glyph, lower case that of its capital") {
  // Each character drawn alone as a class name; the 3 x 5 cell inside its label patch is its glyph.
  auto cell = [](const std::string& name) {
    BoxStyle style;
    style.class_names = {name};
    torch::Tensor out = draw_boxes(torch::zeros({3, 16, 16}), torch::tensor({{0.0f, 8.0f, 12.0f, 15.0f}}),
                                   torch::tensor({0}), {}, style);
    return out.index({0, Slice(2, 7), Slice(1, 4)}).eq(0).flatten();
  };
  const std::string characters = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-/.";
  std::set<std::vector<bool>> glyphs;
  for (char c : characters) {
    torch::Tensor bits = cell(std::string(1, c));
    std::vector<bool> pattern;
    for (int64_t i = 0; i < bits.numel(); ++i) pattern.push_back(bits[i].item<bool>());
    CHECK_MESSAGE(std::count(pattern.begin(), pattern.end(), true) > 0, c);
    glyphs.insert(pattern);
  }
  CHECK(glyphs.size() == characters.size());
  for (char c = 'a'; c <= 'z'; ++c) CHECK(torch::equal(cell(std::string(1, c)), cell(std::string(1, c - 'a' + 'A'))));
}

TEST_CASE("class colours differ between classes") {
  std::set<std::array<float, 3>> colors;
  for (int64_t k = 0; k < 40; ++k) colors.insert(class_color(k));
  CHECK(colors.size() == 40);
}
