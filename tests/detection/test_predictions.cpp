#include <doctest/doctest.h>
#include <torch/torch.h>

#include <cmath>

#include "detection/predictions.hpp"

using namespace genbox::detection;

TEST_CASE("softmax decoding: one detection per query, best real class, sorted, scaled to pixels") {
  // Two classes plus no-object; image 0 is 10 high and 20 wide.
  torch::Tensor logits = torch::tensor({{{0.0f, 2.0f, 5.0f}, {3.0f, 0.0f, 0.0f}, {1.0f, 1.0f, 0.0f}}});
  torch::Tensor boxes =
      torch::tensor({{{0.5f, 0.5f, 0.2f, 0.4f}, {0.25f, 0.5f, 0.5f, 1.0f}, {0.1f, 0.1f, 0.2f, 0.2f}}});
  std::vector<Detections> d = decode_detections(logits, boxes, torch::tensor({{10, 20}}), false, 2);
  REQUIRE(d.size() == 1);
  REQUIRE(d[0].size() == 2);
  // Query 1 is most sure of a real class: e^3 / (e^3 + 2); then query 2 (class 0 on a tie).
  double e3 = std::exp(3.0), e1 = std::exp(1.0);
  CHECK(d[0].scores[0].item<double>() == doctest::Approx(e3 / (e3 + 2)));
  CHECK(d[0].labels[0].item<int64_t>() == 0);
  CHECK(torch::allclose(d[0].boxes[0], torch::tensor({0.0f, 0.0f, 10.0f, 10.0f})));
  CHECK(d[0].scores[1].item<double>() == doctest::Approx(e1 / (2 * e1 + 1)));
  CHECK(torch::allclose(d[0].boxes[1], torch::tensor({0.0f, 0.0f, 4.0f, 2.0f})));
}

TEST_CASE("focal decoding: the best (query, class) pairs by sigmoid, ignoring the no-object logit") {
  torch::Tensor logits = torch::tensor({{{1.0f, -2.0f, 9.0f}, {0.5f, 2.0f, 9.0f}}});
  torch::Tensor boxes = torch::tensor({{{0.5f, 0.5f, 1.0f, 1.0f}, {0.5f, 0.25f, 0.5f, 0.5f}}});
  std::vector<Detections> d = decode_detections(logits, boxes, torch::tensor({{8, 8}}), true, 3);
  REQUIRE(d[0].size() == 3);
  CHECK(torch::equal(d[0].labels, torch::tensor({1, 0, 0}, torch::kLong)));
  CHECK(d[0].scores[0].item<double>() == doctest::Approx(1 / (1 + std::exp(-2.0))));
  CHECK(torch::allclose(d[0].boxes[0], torch::tensor({2.0f, 0.0f, 6.0f, 4.0f})));
  CHECK(torch::allclose(d[0].boxes[1], torch::tensor({0.0f, 0.0f, 8.0f, 8.0f})));
  CHECK(torch::allclose(d[0].boxes[2], torch::tensor({2.0f, 0.0f, 6.0f, 4.0f})));
}
