#include <doctest/doctest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/device.hpp"
#include "detection/box_ops.hpp"
#include "detection/criterion.hpp"

using namespace genbox::detection;

namespace {
Targets targets_from(std::vector<int64_t> labels, const torch::Tensor& boxes) {
  Targets t;
  t.labels = torch::tensor(labels, torch::kLong);
  t.boxes = boxes;
  return t;
}

// Predictions where query slot[b][i] holds target i of image b exactly, with a confident class;
// every other query is confidently "no object" and sits at an arbitrary box.
DetrOutput perfect_output(const std::vector<Targets>& targets, int64_t queries, int64_t classes,
                          const std::vector<std::vector<int64_t>>& slots) {
  torch::Tensor logits = torch::full({static_cast<int64_t>(targets.size()), queries, classes + 1}, -8.0f);
  logits.select(2, classes).fill_(8.0f);
  torch::Tensor boxes = torch::full({static_cast<int64_t>(targets.size()), queries, 4}, 0.3f);
  for (size_t b = 0; b < targets.size(); ++b) {
    for (int64_t i = 0; i < targets[b].size(); ++i) {
      int64_t q = slots[b][i];
      logits[b][q].fill_(-8.0f);
      logits[b][q][targets[b].labels[i].item<int64_t>()] = 8.0f;
      boxes[b][q] = targets[b].boxes[i];
    }
  }
  return {{logits}, {boxes}};
}

std::vector<Targets> two_images() {
  return {targets_from({2, 0}, torch::tensor({{0.3f, 0.4f, 0.2f, 0.3f}, {0.7f, 0.6f, 0.3f, 0.2f}})),
          targets_from({1}, torch::tensor({{0.5f, 0.5f, 0.4f, 0.4f}}))};
}
}  // namespace

TEST_CASE("perfect predictions give zero box losses and the cross-entropy of their logits") {
  CriterionOptions o;
  o.num_classes = 3;
  SetCriterion criterion(o);
  std::vector<Targets> targets = two_images();
  DetrOutput output = perfect_output(targets, 5, 3, {{4, 1}, {2}});
  SetLosses losses = criterion(output, targets);
  REQUIRE(losses.layers.size() == 1);
  CHECK(losses.layers[0].bbox.item<float>() == doctest::Approx(0.0).epsilon(1e-6));
  CHECK(losses.layers[0].giou.item<float>() == doctest::Approx(0.0).scale(1).epsilon(1e-6));
  // Every query's logits put 8 on the right class and -8 on the other three: the same
  // cross-entropy log(1 + 3 e^-16) for all, whatever the class weights.
  double expected = std::log1p(3 * std::exp(-16.0));
  CHECK(losses.layers[0].ce.item<double>() == doctest::Approx(expected).epsilon(1e-4));
  CHECK(losses.total.item<double>() == doctest::Approx(expected).epsilon(1e-4));
}

TEST_CASE("box losses are sums over matched pairs divided by the number of targets") {
  CriterionOptions o;
  o.num_classes = 3;
  SetCriterion criterion(o);
  std::vector<Targets> targets = two_images();
  DetrOutput output = perfect_output(targets, 5, 3, {{4, 1}, {2}});
  // Shift one matched box by (0.02, -0.01) in the centre: L1 0.03 over 3 targets; GIoU of a box
  // against its shift, by the closed form for equal-sized boxes.
  output.boxes[0][0][4][0] += 0.02f;
  output.boxes[0][0][4][1] -= 0.01f;
  SetLosses losses = criterion(output, targets);
  CHECK(losses.layers[0].bbox.item<double>() == doctest::Approx(0.03 / 3).epsilon(1e-4));
  double w = 0.2, h = 0.3, dx = 0.02, dy = 0.01;
  double inter = (w - dx) * (h - dy), uni = 2 * w * h - inter, hull = (w + dx) * (h + dy);
  double giou = inter / uni - (hull - uni) / hull;
  CHECK(losses.layers[0].giou.item<double>() == doctest::Approx((1 - giou) / 3).epsilon(1e-4));
  CHECK(losses.total.item<double>() ==
        doctest::Approx(losses.layers[0].ce.item<double>() + 5 * 0.01 + 2 * (1 - giou) / 3).epsilon(1e-4));
}

TEST_CASE("the cross-entropy weighs no-object queries by 0.1 in a weighted mean") {
  CriterionOptions o;
  o.num_classes = 2;
  SetCriterion criterion(o);
  torch::manual_seed(0);
  // One image, one target at a box only query 1 is near; random class logits.
  std::vector<Targets> targets = {targets_from({1}, torch::tensor({{0.5f, 0.5f, 0.2f, 0.2f}}))};
  torch::Tensor logits = torch::randn({1, 3, 3});
  torch::Tensor boxes = torch::tensor({{{0.1f, 0.1f, 0.1f, 0.1f}, {0.5f, 0.5f, 0.2f, 0.2f}, {0.9f, 0.9f, 0.1f, 0.1f}}});
  SetLosses losses = criterion({{logits}, {boxes}}, targets);
  torch::Tensor log_p = torch::log_softmax(logits[0], 1);
  double numerator = -(0.1 * log_p[0][2] + log_p[1][1] + 0.1 * log_p[2][2]).item<double>();
  CHECK(losses.layers[0].ce.item<double>() == doctest::Approx(numerator / 1.2).epsilon(1e-5));
}

TEST_CASE("the focal loss matches its formula summed over queries and classes per target box") {
  CriterionOptions o;
  o.num_classes = 2;
  o.focal = true;
  SetCriterion criterion(o);
  std::vector<Targets> targets = {targets_from({0}, torch::tensor({{0.5f, 0.5f, 0.2f, 0.2f}}))};
  torch::Tensor logits = torch::tensor({{{0.5f, -1.0f, 3.0f}, {2.0f, 0.0f, -3.0f}}});
  torch::Tensor boxes = torch::tensor({{{0.1f, 0.1f, 0.1f, 0.1f}, {0.5f, 0.5f, 0.2f, 0.2f}}});
  SetLosses losses = criterion({{logits}, {boxes}}, targets);
  // Query 1 matches (class 0 positive); the no-object logits (last column) take no part.
  auto focal = [](double x, bool positive) {
    double p = 1 / (1 + std::exp(-x));
    return positive ? -0.25 * std::pow(1 - p, 2) * std::log(p) : -0.75 * p * p * std::log(1 - p);
  };
  double expected = focal(0.5, false) + focal(-1.0, false) + focal(2.0, true) + focal(0.0, false);
  CHECK(losses.layers[0].ce.item<double>() == doctest::Approx(expected).epsilon(1e-5));
}

TEST_CASE("every decoder layer is matched on its own and adds to the total; names follow DETR") {
  CriterionOptions o;
  o.num_classes = 3;
  SetCriterion criterion(o);
  std::vector<Targets> targets = two_images();
  // Layer 0 places the targets in other slots than layer 1; both are perfect once re-matched.
  DetrOutput first = perfect_output(targets, 5, 3, {{0, 3}, {4}});
  DetrOutput second = perfect_output(targets, 5, 3, {{4, 1}, {2}});
  second.boxes[0][1][2][2] += 0.1f;  // query 2 of image 1 is its match: L1 0.1 over 3 targets
  DetrOutput both{{first.logits[0], second.logits[0]}, {first.boxes[0], second.boxes[0]}};
  SetLosses losses = criterion(both, targets);
  REQUIRE(losses.layers.size() == 2);
  CHECK(losses.layers[0].bbox.item<float>() == doctest::Approx(0.0).epsilon(1e-6));
  CHECK(losses.layers[1].bbox.item<double>() == doctest::Approx(0.1 / 3).epsilon(1e-4));
  double sum = 0;
  for (const LayerLosses& l : losses.layers)
    sum += l.ce.item<double>() + 5 * l.bbox.item<double>() + 2 * l.giou.item<double>();
  CHECK(losses.total.item<double>() == doctest::Approx(sum).epsilon(1e-6));
  std::vector<std::string> names;
  for (const auto& [name, value] : losses.named()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"loss", "loss_ce_0", "loss_bbox_0", "loss_giou_0", "loss_ce", "loss_bbox",
                                          "loss_giou"});
}

TEST_CASE("query groups: each group matched one-to-one, box losses averaged over groups") {
  CriterionOptions o;
  o.num_classes = 3;
  o.query_groups = 2;
  SetCriterion criterion(o);
  std::vector<Targets> targets = two_images();
  // Group 0 is queries 0-4, group 1 queries 5-9; each holds every target once.
  DetrOutput output = perfect_output(targets, 10, 3, {{4, 1}, {2}});
  DetrOutput second_group = perfect_output(targets, 10, 3, {{6, 8}, {9}});
  output.logits[0].narrow(1, 5, 5).copy_(second_group.logits[0].narrow(1, 5, 5));
  output.boxes[0].narrow(1, 5, 5).copy_(second_group.boxes[0].narrow(1, 5, 5));
  SetLosses perfect = criterion(output, targets);
  CHECK(perfect.layers[0].bbox.item<float>() == doctest::Approx(0.0).epsilon(1e-6));
  CHECK(perfect.layers[0].giou.item<float>() == doctest::Approx(0.0).scale(1).epsilon(1e-6));
  // An L1 error of 0.06 in group 1 counts over 3 targets x 2 groups.
  output.boxes[0][1][9][3] -= 0.06f;
  CHECK(criterion(output, targets).layers[0].bbox.item<double>() == doctest::Approx(0.06 / 6).epsilon(1e-4));
}

TEST_CASE("a batch without targets has zero box losses, all-no-object classes and a gradient") {
  CriterionOptions o;
  o.num_classes = 3;
  SetCriterion criterion(o);
  torch::manual_seed(1);
  std::vector<Targets> targets = {targets_from({}, torch::zeros({0, 4})), targets_from({}, torch::zeros({0, 4}))};
  torch::Tensor logits = torch::randn({2, 4, 4}).requires_grad_();
  torch::Tensor boxes = torch::rand({2, 4, 4}).requires_grad_();
  SetLosses losses = criterion({{logits}, {boxes}}, targets);
  CHECK(losses.layers[0].bbox.item<float>() == 0.0f);
  CHECK(losses.layers[0].giou.item<float>() == 0.0f);
  double ce = -torch::log_softmax(logits.detach(), 2).select(2, 3).mean().item<double>();
  CHECK(losses.layers[0].ce.item<double>() == doctest::Approx(ce).epsilon(1e-5));
  losses.total.backward();
  CHECK(logits.grad().abs().sum().item<float>() > 0);
}

TEST_CASE("the set loss is fp32 under autocast: bf16 predictions give the fp32 losses of their values") {
  CriterionOptions o;
  o.num_classes = 3;
  SetCriterion criterion(o);
  std::vector<Targets> targets = two_images();
  DetrOutput output = perfect_output(targets, 5, 3, {{4, 1}, {2}});
  torch::manual_seed(8);
  output.logits[0] += torch::randn_like(output.logits[0]);
  output.boxes[0] = (output.boxes[0] + 0.05 * torch::randn_like(output.boxes[0])).clamp(0.05, 0.95);
  const DetrOutput low{{output.logits[0].to(torch::kBFloat16)}, {output.boxes[0].to(torch::kBFloat16)}};
  const DetrOutput widened{{low.logits[0].to(torch::kFloat)}, {low.boxes[0].to(torch::kFloat)}};
  const SetLosses expected = criterion(widened, targets);
  SetLosses got;
  {
    genbox::AutocastGuard autocast("bf16", torch::kCPU);
    got = criterion(low, targets);
  }
  for (const auto& [name, value] : got.named()) {
    CAPTURE(name);
    CHECK((value.scalar_type() == torch::kFloat));
  }
  CHECK(torch::equal(got.layers[0].ce, expected.layers[0].ce));
  CHECK(torch::equal(got.layers[0].bbox, expected.layers[0].bbox));
  CHECK(torch::equal(got.layers[0].giou, expected.layers[0].giou));
}
