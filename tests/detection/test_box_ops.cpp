#include <doctest/doctest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "detection/box_ops.hpp"

using namespace genbox::detection;

namespace {
// Random valid corner boxes [n, 4] inside the unit square.
torch::Tensor random_boxes(int64_t n) {
  torch::Tensor corners = torch::rand({n, 2, 2});
  auto sorted = std::get<0>(corners.sort(1));
  return torch::cat({sorted.select(1, 0), sorted.select(1, 1)}, 1);
}

double scalar_giou(const float* a, const float* b) {
  double iw = std::max(0.0, std::min<double>(a[2], b[2]) - std::max<double>(a[0], b[0]));
  double ih = std::max(0.0, std::min<double>(a[3], b[3]) - std::max<double>(a[1], b[1]));
  double inter = iw * ih;
  double uni = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  double hull = (std::max(a[2], b[2]) - std::min(a[0], b[0])) * (std::max(a[3], b[3]) - std::min(a[1], b[1]));
  return inter / uni - (hull - uni) / hull;
}
}  // namespace

TEST_CASE("centre and corner box forms convert by hand and round trip") {
  torch::Tensor centre = torch::tensor({{0.5f, 0.5f, 0.2f, 0.4f}, {0.1f, 0.9f, 0.2f, 0.2f}});
  torch::Tensor corner = cxcywh_to_xyxy(centre);
  CHECK(torch::allclose(corner, torch::tensor({{0.4f, 0.3f, 0.6f, 0.7f}, {0.0f, 0.8f, 0.2f, 1.0f}})));
  torch::manual_seed(0);
  torch::Tensor boxes = random_boxes(50);
  CHECK(torch::allclose(cxcywh_to_xyxy(xyxy_to_cxcywh(boxes)), boxes, 1e-6, 1e-6));
  torch::Tensor batched = torch::rand({3, 7, 4});
  CHECK(torch::allclose(xyxy_to_cxcywh(cxcywh_to_xyxy(batched)), batched, 1e-6, 1e-6));
  CHECK(box_area(torch::tensor({{1.0f, 2.0f, 4.0f, 7.0f}})).item<float>() == 15.0f);
}

TEST_CASE("IoU and generalized IoU on hand-computed pairs") {
  torch::Tensor a = torch::tensor({{0.0f, 0.0f, 2.0f, 2.0f}});
  // Overlap 1 x 2 = 2 of union 4 + 4 - 2 = 6; the hull 3 x 2 = 6 equals the union.
  torch::Tensor half = torch::tensor({{1.0f, 0.0f, 3.0f, 2.0f}});
  CHECK(box_iou(a, half).item<float>() == doctest::Approx(1.0 / 3));
  CHECK(generalized_box_iou(a, half).item<float>() == doctest::Approx(1.0 / 3));
  // Disjoint, one unit apart: IoU 0, hull 5 x 2 = 10 against union 8 -> GIoU -0.2.
  torch::Tensor apart = torch::tensor({{3.0f, 0.0f, 5.0f, 2.0f}});
  CHECK(box_iou(a, apart).item<float>() == 0.0f);
  CHECK(generalized_box_iou(a, apart).item<float>() == doctest::Approx(-0.2));
  // Identical boxes give exactly 1.
  CHECK(generalized_box_iou(a, a).item<float>() == 1.0f);
}

TEST_CASE("generalized IoU: identity on the diagonal, negative when disjoint, symmetric, matches a scalar loop") {
  torch::manual_seed(1);
  torch::Tensor a = random_boxes(12), b = random_boxes(9);
  torch::Tensor g = generalized_box_iou(a, b);
  REQUIRE(g.sizes() == torch::IntArrayRef({12, 9}));
  CHECK(torch::allclose(g, generalized_box_iou(b, a).t(), 1e-6, 1e-6));
  CHECK(torch::allclose(torch::diagonal(generalized_box_iou(a, a)), torch::ones({12}), 1e-6, 1e-6));
  CHECK(torch::allclose(generalized_box_iou_aligned(a, a.flip(0)), torch::diagonal(generalized_box_iou(a, a.flip(0)))));
  torch::Tensor ac = a.contiguous(), bc = b.contiguous();
  for (int64_t i = 0; i < 12; ++i)
    for (int64_t j = 0; j < 9; ++j)
      CHECK(g[i][j].item<double>() ==
            doctest::Approx(scalar_giou(ac[i].data_ptr<float>(), bc[j].data_ptr<float>())).epsilon(1e-5));
  CHECK(((g >= -1) & (g <= 1)).all().item<bool>());
  // Boxes in the left half against boxes shifted into the right half never touch.
  torch::Tensor left = a * 0.5, right = b * 0.49 + torch::tensor({0.51f, 0.0f, 0.51f, 0.0f});
  CHECK((generalized_box_iou(left, right) < 0).all().item<bool>());
  CHECK((box_iou(left, right) == 0).all().item<bool>());
}

TEST_CASE("generalized IoU names the first degenerate box and its coordinates") {
  torch::Tensor good = torch::tensor({{0.0f, 0.0f, 1.0f, 1.0f}});
  torch::Tensor bad = torch::tensor({{0.0f, 0.0f, 1.0f, 1.0f}, {0.5f, 0.25f, 0.75f, 0.5f}, {0.5f, 0.5f, 0.25f, 1.0f}});
  std::string message;
  try {
    generalized_box_iou(good, bad);
  } catch (const std::invalid_argument& e) {
    message = e.what();
  }
  CHECK(message.find("box 2 of the second set") != std::string::npos);
  CHECK(message.find("x1=0.5, y1=0.5, x2=0.25, y2=1") != std::string::npos);
  CHECK_THROWS_AS(generalized_box_iou(torch::tensor({{0.0f, 0.5f, 1.0f, 0.0f}}), good), std::invalid_argument);
  CHECK_THROWS_AS(generalized_box_iou_aligned(bad, bad.flip(0)), std::invalid_argument);
  // Zero-area boxes are allowed and give finite values.
  torch::Tensor point = torch::tensor({{0.5f, 0.5f, 0.5f, 0.5f}});
  CHECK(std::isfinite(generalized_box_iou(point, point).item<float>()));
}
