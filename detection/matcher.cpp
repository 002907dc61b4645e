#include "detection/matcher.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

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
  return pair_costs(logits.flatten(0, 1), boxes.flatten(0, 1), torch::cat(labels),
                    torch::cat(target_boxes).view({-1, 4}))
      .view({logits.size(0), logits.size(1), -1});
}

torch::Tensor HungarianMatcher::pair_costs(const torch::Tensor& logits, const torch::Tensor& boxes,
                                           const torch::Tensor& labels, const torch::Tensor& target_boxes) const {
  torch::Tensor flat_logits = logits.to(torch::kFloat);
  torch::Tensor flat_boxes = boxes.to(torch::kFloat);
  torch::Tensor class_cost;
  if (options_.focal) {
    torch::Tensor p = flat_logits.narrow(1, 0, logits.size(1) - 1).sigmoid().index_select(1, labels);
    const double a = options_.focal_alpha, g = options_.focal_gamma, eps = 1e-8;
    torch::Tensor positive = a * (1 - p).pow(g) * -(p + eps).log();
    torch::Tensor negative = (1 - a) * p.pow(g) * -(1 - p + eps).log();
    class_cost = positive - negative;
  } else {
    class_cost = -flat_logits.softmax(1).index_select(1, labels);
  }
  torch::Tensor l1_cost = torch::cdist(flat_boxes, target_boxes, 1);
  torch::Tensor giou_cost = -generalized_box_iou(cxcywh_to_xyxy(flat_boxes), cxcywh_to_xyxy(target_boxes));
  return options_.class_weight * class_cost + options_.bbox_weight * l1_cost + options_.giou_weight * giou_cost;
}

std::vector<Match> HungarianMatcher::operator()(const torch::Tensor& logits, const torch::Tensor& boxes,
                                                const std::vector<Targets>& targets, int64_t groups) const {
  const int64_t queries = logits.size(1);
  if (groups < 1 || queries % groups != 0)
    throw std::invalid_argument(fmt::format("{} queries do not split into {} groups", queries, groups));
  check_inputs(logits, boxes, targets);
  // Costs per image: the batch-wide matrix of cost() pairs every query with every image's targets,
  // and all but its diagonal blocks would be thrown away (B times the work).
  torch::NoGradGuard no_grad;
  const int64_t group_size = queries / groups;

  // One copy to the CPU for the whole batch: [Q, n_b] blocks side by side.
  std::vector<torch::Tensor> blocks;
  for (size_t b = 0; b < targets.size(); ++b)
    if (targets[b].size() > 0)
      blocks.push_back(pair_costs(logits[b], boxes[b], targets[b].labels.to(logits.device()),
                                  targets[b].boxes.to(boxes.device(), torch::kFloat)));
  torch::Tensor all_costs = blocks.empty() ? torch::zeros({queries, 0}, torch::kDouble)
                                           : torch::cat(blocks, 1).to(torch::kCPU, torch::kDouble);

  std::vector<Match> matches;
  int64_t first_column = 0;
  for (size_t b = 0; b < targets.size(); ++b) {
    const int64_t n = targets[b].size();
    torch::Tensor image_costs = all_costs.narrow(1, first_column, n);
    first_column += n;
    std::vector<int64_t> matched_queries, matched_targets;
    for (int64_t g = 0; g < groups; ++g) {
      std::string context = groups == 1 ? fmt::format("image {}", b) : fmt::format("image {}, query group {}", b, g);
      Assignment a = linear_sum_assignment(image_costs.narrow(0, g * group_size, group_size), context);
      for (size_t k = 0; k < a.rows.size(); ++k) {
        matched_queries.push_back(g * group_size + a.rows[k]);
        matched_targets.push_back(a.columns[k]);
      }
    }
    matches.push_back({torch::tensor(matched_queries, torch::kLong), torch::tensor(matched_targets, torch::kLong)});
  }
  return matches;
}

}  // namespace genbox::detection
