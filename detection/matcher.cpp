#include "detection/matcher.hpp"

#include <fmt/format.h>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "detection/assignment.hpp"
#include "detection/box_ops.hpp"

namespace genbox::detection {
namespace {
void check_inputs(const torch::Tensor& logits, const torch::Tensor& boxes, const std::vector<Targets>& targets) {
  if (logits.dim() != 3 || boxes.dim() != 3 || boxes.size(2) != 4 || logits.size(0) != boxes.size(0) ||
      logits.size(1) != boxes.size(1))
    throw std::invalid_argument(fmt::format("the matcher needs logits [B, Q, K+1] and boxes [B, Q, 4], got {} and {}",
                                            fmt::join(logits.sizes(), "x"), fmt::join(boxes.sizes(), "x")));
  if (static_cast<int64_t>(targets.size()) != logits.size(0))
    throw std::invalid_argument(
        fmt::format("the matcher got {} predictions but targets for {} images", logits.size(0), targets.size()));
}
}  // namespace

HungarianMatcher::HungarianMatcher(const MatcherOptions& options) : options_(options) {}

torch::Tensor HungarianMatcher::cost(const torch::Tensor& logits, const torch::Tensor& boxes,
                                     const std::vector<Targets>& targets) const {
  check_inputs(logits, boxes, targets);
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> labels, target_boxes;
  for (const Targets& t : targets) {
    labels.push_back(t.labels.to(logits.device()));
    target_boxes.push_back(t.boxes.to(boxes.device(), torch::kFloat));
  }
  // Every query of the batch against every target of the batch: one "image" of B * Q queries.
  return batched_costs(logits.flatten(0, 1).unsqueeze(0), boxes.flatten(0, 1).unsqueeze(0),
                       torch::cat(labels).unsqueeze(0), torch::cat(target_boxes).view({1, -1, 4}))
      .view({logits.size(0), logits.size(1), -1});
}

torch::Tensor HungarianMatcher::batched_costs(const torch::Tensor& logits, const torch::Tensor& boxes,
                                              const torch::Tensor& labels, const torch::Tensor& target_boxes) const {
  const int64_t batch = logits.size(0), queries = logits.size(1), most = labels.size(1);
  torch::Tensor flat_logits = logits.to(torch::kFloat), flat_boxes = boxes.to(torch::kFloat);
  torch::Tensor index = labels.unsqueeze(1).expand({batch, queries, most});
  torch::Tensor class_cost;
  if (options_.focal) {
    torch::Tensor p = flat_logits.narrow(2, 0, logits.size(2) - 1).sigmoid().gather(2, index);
    const double a = options_.focal_alpha, g = options_.focal_gamma, eps = 1e-8;
    torch::Tensor positive = a * (1 - p).pow(g) * -(p + eps).log();
    torch::Tensor negative = (1 - a) * p.pow(g) * -(1 - p + eps).log();
    class_cost = positive - negative;
  } else {
    class_cost = -flat_logits.softmax(2).gather(2, index);
  }
  torch::Tensor l1_cost = torch::cdist(flat_boxes, target_boxes.to(torch::kFloat), 1);
  torch::Tensor giou_cost =
      -generalized_box_iou_batched(cxcywh_to_xyxy(flat_boxes), cxcywh_to_xyxy(target_boxes.to(torch::kFloat)));
  return options_.class_weight * class_cost + options_.bbox_weight * l1_cost + options_.giou_weight * giou_cost;
}

torch::Tensor HungarianMatcher::padded_cost(const torch::Tensor& logits, const torch::Tensor& boxes,
                                            const std::vector<Targets>& targets) const {
  check_inputs(logits, boxes, targets);
  torch::NoGradGuard no_grad;
  PaddedTargets padded = pad_targets(targets, logits.device());
  if (padded.most == 0) return torch::zeros({logits.size(0), logits.size(1), 0}, logits.options().dtype(torch::kFloat));
  return batched_costs(logits, boxes, padded.labels, padded.boxes.to(boxes.device()));
}

namespace {
// Each image's [Q, n_b] cost block as row-major doubles, computed on the host in one pass over
// the batch: the CPU path, where a loop that fuses the class, L1 and GIoU terms per pair beats a
// dozen tensor ops over padded targets. Same formulas as batched_costs().
std::vector<std::vector<double>> host_costs(const torch::Tensor& logits, const torch::Tensor& boxes,
                                            const std::vector<Targets>& targets, const MatcherOptions& o) {
  torch::Tensor l = logits.to(torch::kCPU, torch::kDouble).contiguous();
  torch::Tensor x = boxes.to(torch::kCPU, torch::kDouble).contiguous();
  const int64_t batch = l.size(0), queries = l.size(1), outputs = l.size(2);
  const double* all_logits = l.data_ptr<double>();
  const double* all_boxes = x.data_ptr<double>();
  constexpr double kMinArea = 1e-12;  // as generalized_box_iou clamps
  std::vector<std::vector<double>> costs(static_cast<size_t>(batch));
  std::vector<double> probability(static_cast<size_t>(outputs));
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t n = targets[b].size();
    if (n == 0) continue;
    torch::Tensor labels = targets[b].labels.to(torch::kCPU, torch::kLong).contiguous();
    torch::Tensor target_boxes = targets[b].boxes.to(torch::kCPU, torch::kDouble).contiguous();
    const int64_t* label = labels.data_ptr<int64_t>();
    const double* t = target_boxes.data_ptr<double>();
    std::vector<double>& cost = costs[static_cast<size_t>(b)];
    cost.resize(static_cast<size_t>(queries * n));
    for (int64_t q = 0; q < queries; ++q) {
      const double* z = all_logits + (b * queries + q) * outputs;
      if (o.focal) {
        for (int64_t k = 0; k + 1 < outputs; ++k) probability[k] = 1 / (1 + std::exp(-z[k]));
      } else {
        const double top = *std::max_element(z, z + outputs);
        double total = 0;
        for (int64_t k = 0; k < outputs; ++k) total += probability[k] = std::exp(z[k] - top);
        for (int64_t k = 0; k < outputs; ++k) probability[k] /= total;
      }
      const double* p = all_boxes + (b * queries + q) * 4;
      const double px1 = p[0] - 0.5 * p[2], py1 = p[1] - 0.5 * p[3], px2 = p[0] + 0.5 * p[2], py2 = p[1] + 0.5 * p[3];
      const double p_area = (px2 - px1) * (py2 - py1);
      for (int64_t j = 0; j < n; ++j) {
        const double* g = t + j * 4;
        double class_cost;
        const double pk = probability[label[j]];
        if (o.focal) {
          const double eps = 1e-8;
          class_cost = o.focal_alpha * std::pow(1 - pk, o.focal_gamma) * -std::log(pk + eps) -
                       (1 - o.focal_alpha) * std::pow(pk, o.focal_gamma) * -std::log(1 - pk + eps);
        } else {
          class_cost = -pk;
        }
        const double l1 = std::abs(p[0] - g[0]) + std::abs(p[1] - g[1]) + std::abs(p[2] - g[2]) + std::abs(p[3] - g[3]);
        const double gx1 = g[0] - 0.5 * g[2], gy1 = g[1] - 0.5 * g[3], gx2 = g[0] + 0.5 * g[2], gy2 = g[1] + 0.5 * g[3];
        const double iw = std::max(0.0, std::min(px2, gx2) - std::max(px1, gx1));
        const double ih = std::max(0.0, std::min(py2, gy2) - std::max(py1, gy1));
        const double intersection = iw * ih;
        const double union_area = p_area + (gx2 - gx1) * (gy2 - gy1) - intersection;
        const double enclosing =
            std::max(kMinArea, (std::max(px2, gx2) - std::min(px1, gx1)) * (std::max(py2, gy2) - std::min(py1, gy1)));
        const double giou = intersection / std::max(union_area, kMinArea) - (enclosing - union_area) / enclosing;
        cost[static_cast<size_t>(q * n + j)] = o.class_weight * class_cost + o.bbox_weight * l1 - o.giou_weight * giou;
      }
    }
  }
  return costs;
}
}  // namespace

std::vector<Match> HungarianMatcher::operator()(const torch::Tensor& logits, const torch::Tensor& boxes,
                                                const std::vector<Targets>& targets, int64_t groups) const {
  const int64_t queries = logits.size(1);
  if (groups < 1 || queries % groups != 0)
    throw std::invalid_argument(fmt::format("{} queries do not split into {} groups", queries, groups));
  // On a GPU, one batched pass and one copy to the host for the whole batch; on the CPU, one
  // fused loop over the batch on plain arrays.
  check_inputs(logits, boxes, targets);
  torch::NoGradGuard no_grad;
  const bool on_host = logits.device().is_cpu();
  torch::Tensor costs =
      on_host ? torch::Tensor() : padded_cost(logits, boxes, targets).to(torch::kCPU, torch::kDouble).contiguous();
  std::vector<std::vector<double>> host =
      on_host ? host_costs(logits, boxes, targets, options_) : std::vector<std::vector<double>>();
  const int64_t group_size = queries / groups, most = on_host ? 0 : costs.size(2);
  const double* all = on_host ? nullptr : costs.data_ptr<double>();

  std::vector<Match> matches;
  std::vector<double> block;
  for (size_t b = 0; b < targets.size(); ++b) {
    const int64_t n = targets[b].size();
    std::vector<int64_t> matched_queries, matched_targets;
    for (int64_t g = 0; g < groups && n > 0; ++g) {
      // This group's rows and this image's own columns, as a plain row-major array.
      block.resize(static_cast<size_t>(group_size * n));
      for (int64_t q = 0; q < group_size; ++q) {
        const double* row = on_host ? host[b].data() + (g * group_size + q) * n
                                    : all + (static_cast<int64_t>(b) * queries + g * group_size + q) * most;
        std::copy(row, row + n, block.begin() + q * n);
      }
      std::string context = groups == 1 ? fmt::format("image {}", b) : fmt::format("image {}, query group {}", b, g);
      Assignment a = linear_sum_assignment(block, group_size, n, context);
      for (size_t k = 0; k < a.rows.size(); ++k) {
        matched_queries.push_back(g * group_size + a.rows[k]);
        matched_targets.push_back(a.columns[k]);
      }
    }
    matches.push_back({torch::tensor(matched_queries, torch::kLong), torch::tensor(matched_targets, torch::kLong)});
  }
  return matches;
}

MatchingProblem MatchingProblem::to(const torch::Device& device) const {
  MatchingProblem moved{logits.to(device), boxes.to(device), {}, target_count};
  for (const Targets& t : targets) moved.targets.push_back(t.to(device));
  return moved;
}

MatchingProblem random_matching_problem(int64_t images, int64_t queries, int64_t classes, uint64_t seed) {
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  MatchingProblem p;
  p.logits = at::randn({images, queries, classes + 1}, generator);
  p.boxes = at::rand({images, queries, 4}, generator).mul(0.5).add(0.25);
  for (int64_t i = 0; i < images; ++i) {
    int64_t n = at::randint(1, 21, {1}, generator).item<int64_t>();
    torch::Tensor xy = at::rand({n, 2}, generator).mul(48);
    torch::Tensor wh = at::rand({n, 2}, generator).mul(14).add(2);
    p.targets.push_back(make_targets(at::randint(0, classes, {n}, generator), torch::cat({xy, xy + wh}, 1), 64, 64));
    p.target_count += n;
  }
  return p;
}

}  // namespace genbox::detection
