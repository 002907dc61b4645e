#include <ATen/CPUGeneratorImpl.h>
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "detection/assignment.hpp"
#include "detection/box_ops.hpp"
#include "detection/matcher.hpp"

using namespace genbox::detection;

namespace {
// Targets with n random boxes (centre form, inside the unit square) and labels below classes.
Targets random_targets(int64_t n, int64_t classes) {
  torch::Tensor centre = torch::rand({n, 2}) * 0.6 + 0.2, size = torch::rand({n, 2}) * 0.3 + 0.05;
  Targets t;
  t.labels = torch::randint(classes, {n}, torch::kLong);
  t.boxes = torch::cat({centre, size}, 1);
  return t;
}

std::map<int64_t, int64_t> pairs(const Match& m) {
  std::map<int64_t, int64_t> out;
  for (int64_t i = 0; i < m.size(); ++i) out[m.queries[i].item<int64_t>()] = m.targets[i].item<int64_t>();
  return out;
}

// The cheapest assignment of all n targets to distinct queries, by trying every choice.
double brute_force(const torch::Tensor& cost) {
  int64_t q = cost.size(0), n = cost.size(1);
  std::vector<char> used(q, 0);
  double best = std::numeric_limits<double>::infinity();
  std::function<void(int64_t, double)> search = [&](int64_t t, double sum) {
    if (t == n) {
      best = std::min(best, sum);
      return;
    }
    for (int64_t i = 0; i < q; ++i) {
      if (used[i]) continue;
      used[i] = 1;
      search(t + 1, sum + cost[i][t].item<double>());
      used[i] = 0;
    }
  };
  search(0, 0);
  return best;
}
}  // namespace

TEST_CASE("the matching cost equals its formula written out per query and target") {
  torch::manual_seed(0);
  int64_t classes = 4, queries = 6;
  std::vector<Targets> targets = {random_targets(2, classes), random_targets(3, classes)};
  torch::Tensor logits = torch::randn({2, queries, classes + 1});
  torch::Tensor boxes = torch::cat({torch::rand({2, queries, 2}) * 0.6 + 0.2, torch::rand({2, queries, 2}) * 0.3}, 2);
  for (bool focal : {false, true}) {
    MatcherOptions o;
    o.focal = focal;
    HungarianMatcher matcher(o);
    torch::Tensor cost = matcher.cost(logits, boxes, targets);
    REQUIRE(cost.sizes() == torch::IntArrayRef({2, queries, 5}));
    int64_t column = 0;
    for (int64_t b = 0; b < 2; ++b) {
      for (int64_t t = 0; t < targets[b].size(); ++t, ++column) {
        int64_t label = targets[b].labels[t].item<int64_t>();
        torch::Tensor target_box = targets[b].boxes[t];
        for (int64_t q = 0; q < queries; ++q) {
          double class_cost;
          if (focal) {
            double p = 1 / (1 + std::exp(-logits[b][q][label].item<double>()));
            class_cost = 0.25 * std::pow(1 - p, 2) * -std::log(p + 1e-8) - 0.75 * p * p * -std::log(1 - p + 1e-8);
          } else {
            class_cost = -torch::softmax(logits[b][q], 0)[label].item<double>();
          }
          double l1 = (boxes[b][q] - target_box).abs().sum().item<double>();
          double giou =
              generalized_box_iou(cxcywh_to_xyxy(boxes[b][q].unsqueeze(0)), cxcywh_to_xyxy(target_box.unsqueeze(0)))
                  .item<double>();
          CHECK(cost[b][q][column].item<double>() == doctest::Approx(class_cost + 5 * l1 - 2 * giou).epsilon(1e-5));
        }
      }
    }
  }
}

TEST_CASE("the matcher finds the cheapest assignment per image, including images without targets") {
  torch::manual_seed(1);
  int64_t classes = 3, queries = 5;
  std::vector<Targets> targets = {random_targets(2, classes), random_targets(0, classes), random_targets(5, classes)};
  torch::Tensor logits = torch::randn({3, queries, classes + 1});
  torch::Tensor boxes = torch::rand({3, queries, 4}) * 0.5 + 0.05;
  HungarianMatcher matcher;
  std::vector<Match> matches = matcher(logits, boxes, targets);
  REQUIRE(matches.size() == 3);
  CHECK(matches[0].size() == 2);
  CHECK(matches[1].size() == 0);
  CHECK(matches[2].size() == 5);
  torch::Tensor cost = matcher.cost(logits, boxes, targets).to(torch::kDouble);
  int64_t column = 0;
  for (int64_t b = 0; b < 3; ++b) {
    int64_t n = targets[b].size();
    torch::Tensor image_cost = cost[b].narrow(1, column, n);
    column += n;
    double matched = 0;
    for (int64_t i = 0; i < matches[b].size(); ++i)
      matched +=
          image_cost[matches[b].queries[i].item<int64_t>()][matches[b].targets[i].item<int64_t>()].item<double>();
    CHECK(matched == doctest::Approx(n == 0 ? 0.0 : brute_force(image_cost)).epsilon(1e-9));
    CHECK(std::is_sorted(matches[b].queries.data_ptr<int64_t>(), matches[b].queries.data_ptr<int64_t>() + n));
  }
}

TEST_CASE("permuting the queries permutes the matched queries and nothing else") {
  torch::manual_seed(2);
  int64_t classes = 5, queries = 12;
  std::vector<Targets> targets = {random_targets(4, classes), random_targets(7, classes)};
  torch::Tensor logits = torch::randn({2, queries, classes + 1});
  torch::Tensor boxes = torch::rand({2, queries, 4}) * 0.5 + 0.05;
  torch::Tensor permutation = torch::randperm(queries, torch::kLong);
  HungarianMatcher matcher;
  std::vector<Match> original = matcher(logits, boxes, targets);
  std::vector<Match> permuted =
      matcher(logits.index_select(1, permutation), boxes.index_select(1, permutation), targets);
  for (int64_t b = 0; b < 2; ++b) {
    std::map<int64_t, int64_t> expected;
    for (auto [query, target] : pairs(permuted[b])) expected[permutation[query].item<int64_t>()] = target;
    CHECK(expected == pairs(original[b]));
  }
}

TEST_CASE("query groups are matched independently, each target once per group") {
  torch::manual_seed(3);
  int64_t classes = 3, per_group = 6, groups = 3;
  std::vector<Targets> targets = {random_targets(4, classes), random_targets(0, classes)};
  torch::Tensor logits = torch::randn({2, per_group * groups, classes + 1});
  torch::Tensor boxes = torch::rand({2, per_group * groups, 4}) * 0.5 + 0.05;
  HungarianMatcher matcher;
  std::vector<Match> grouped = matcher(logits, boxes, targets, groups);
  CHECK(grouped[0].size() == 4 * groups);
  CHECK(grouped[1].size() == 0);
  std::map<int64_t, int64_t> all = pairs(grouped[0]);
  for (int64_t g = 0; g < groups; ++g) {
    std::vector<Match> alone =
        matcher(logits.narrow(1, g * per_group, per_group), boxes.narrow(1, g * per_group, per_group), targets);
    std::map<int64_t, int64_t> group_pairs;
    for (auto [query, target] : all)
      if (query / per_group == g) group_pairs[query - g * per_group] = target;
    CHECK(group_pairs == pairs(alone[0]));
  }
  CHECK_THROWS_AS(matcher(logits, boxes, targets, 4), std::invalid_argument);
}

TEST_CASE("a non-finite prediction makes the matcher name the image") {
  torch::manual_seed(4);
  std::vector<Targets> targets = {random_targets(2, 3), random_targets(2, 3)};
  torch::Tensor logits = torch::randn({2, 4, 4});
  torch::Tensor boxes = torch::rand({2, 4, 4}) * 0.5;
  boxes[1][2][0] = NAN;
  std::string message;
  try {
    HungarianMatcher()(logits, boxes, targets);
  } catch (const std::invalid_argument& e) {
    message = e.what();
  }
  CHECK(message.rfind("image 1: ", 0) == 0);
  CHECK_THROWS_AS(HungarianMatcher()(logits, boxes, {targets[0]}), std::invalid_argument);
}

TEST_CASE("the batched pass over padded targets gives each image's own costs and the same matches") {
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(11);
  const int64_t images = 9, queries = 12, classes = 5;
  torch::Tensor logits = at::randn({images, queries, classes + 1}, g);
  torch::Tensor boxes = at::rand({images, queries, 4}, g).mul(0.5).add(0.25);
  std::vector<Targets> targets;
  for (int64_t i = 0; i < images; ++i) {
    int64_t n = i % 4 == 0 ? 0 : 1 + i % 7;  // some images without targets, sizes up to 7
    torch::Tensor xy = at::rand({n, 2}, g).mul(40), wh = at::rand({n, 2}, g).mul(20).add(1);
    targets.push_back(make_targets(at::randint(0, classes, {n}, g), torch::cat({xy, xy + wh}, 1), 64, 64));
  }
  for (bool focal : {false, true}) {
    CAPTURE(focal);
    MatcherOptions o;
    o.focal = focal;
    HungarianMatcher matcher(o);
    // The oracle: the batch-wide matrix of every query against every target, cut per image.
    torch::Tensor full = matcher.cost(logits, boxes, targets);
    torch::Tensor padded = matcher.padded_cost(logits, boxes, targets);
    REQUIRE(padded.size(2) == 7);
    std::vector<Match> matches = matcher(logits, boxes, targets);
    int64_t column = 0;
    for (int64_t i = 0; i < images; ++i) {
      CAPTURE(i);
      const int64_t n = targets[i].size();
      torch::Tensor own = full[i].narrow(1, column, n);
      column += n;
      CHECK(torch::allclose(padded[i].narrow(1, 0, n), own, 1e-5, 1e-6));
      Assignment expected = linear_sum_assignment(own);
      std::vector<int64_t> rows(expected.rows.begin(), expected.rows.end());
      std::vector<int64_t> cols(expected.columns.begin(), expected.columns.end());
      CHECK(torch::equal(matches[i].queries, torch::tensor(rows, torch::kLong)));
      CHECK(torch::equal(matches[i].targets, torch::tensor(cols, torch::kLong)));
    }
  }
}

TEST_CASE("the CPU matcher's AVX2 and portable builds find assignments of the same cost, exact ties included") {
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(5);
  for (int trial = 0; trial < 40; ++trial) {
    CAPTURE(trial);
    const int64_t classes = 2 + trial % 9, queries = 4 + trial % 5 * 9, groups = trial % 3 == 0 ? 2 : 1;
    MatchingProblem p = random_matching_problem(6, queries * groups, classes, 100 + trial);
    if (trial % 2 == 1) {
      // Repeated predictions and targets: cost columns and rows that tie exactly.
      torch::Tensor repeat = torch::arange(queries * groups, torch::kLong).remainder(3);
      p.logits = p.logits.index_select(1, repeat);
      p.boxes = p.boxes.index_select(1, repeat);
      for (Targets& t : p.targets) {
        torch::Tensor first = torch::zeros({t.size()}, torch::kLong);
        t.labels = t.labels.index_select(0, first);
        t.boxes = t.boxes.index_select(0, first);
      }
    }
    for (bool focal : {false, true}) {
      CAPTURE(focal);
      MatcherOptions o;
      o.focal = focal;
      std::vector<Match> vectorised = HungarianMatcher(o)(p.logits, p.boxes, p.targets, groups);
      o.avx2 = false;
      const HungarianMatcher reference(o);
      std::vector<Match> portable = reference(p.logits, p.boxes, p.targets, groups);
      // The builds' softmaxes need not agree to the bit (ATen's own kernel depends on the CPU's
      // vector width), so among assignments of equal cost either may win: compared by their cost
      // under the portable build's matrix, each a valid assignment.
      const torch::Tensor costs = reference.cost(p.logits, p.boxes, p.targets).to(torch::kDouble);
      int64_t column = 0;
      for (size_t i = 0; i < p.targets.size(); ++i) {
        CAPTURE(i);
        const int64_t n = p.targets[i].size();
        const torch::Tensor own = costs[int64_t(i)].narrow(1, column, n);
        column += n;
        const auto total = [&](const Match& m) { return own.index({m.queries, m.targets}).sum().item<double>(); };
        CHECK(total(vectorised[i]) == doctest::Approx(total(portable[i])).epsilon(1e-6));
        CHECK(vectorised[i].size() == std::min(queries, n) * groups);
        CHECK(std::get<0>(at::_unique(vectorised[i].queries)).numel() == vectorised[i].size());
      }
    }
  }
}
