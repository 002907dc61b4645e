#include "detection/matcher.hpp"

#include <fmt/format.h>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <optional>
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
// The CPU path's inputs, prepared once per batch: the class term of every query against every
// class in one vectorised op, and the predicted boxes, both as plain float arrays. Each image's
// cost block is then computed right before it is solved, into one reused buffer that stays in
// cache, in a loop that fuses the class, L1 and GIoU terms per pair (a dozen tensor ops over
// padded targets cost more here). Same formulas as batched_costs(), summed in double.
class HostCosts {
 public:
  HostCosts(const torch::Tensor& logits, const torch::Tensor& boxes, const MatcherOptions& o) : options_(o) {
    torch::Tensor l = logits.to(torch::kCPU, torch::kFloat);
    if (o.focal) {
      torch::Tensor p = l.narrow(2, 0, l.size(2) - 1).sigmoid();
      const double a = o.focal_alpha, g = o.focal_gamma, eps = 1e-8;
      class_costs_ = a * (1 - p).pow(g) * -(p + eps).log() - (1 - a) * p.pow(g) * -(1 - p + eps).log();
    } else {
      class_costs_ = -l.softmax(2);
    }
    class_costs_ = class_costs_.mul_(o.class_weight).contiguous();
    boxes_ = boxes.to(torch::kCPU, torch::kFloat).contiguous();
    queries_ = l.size(1);
    classes_ = class_costs_.size(2);
  }

  // Image b's targets as its cost columns; .to() returns CPU float and int64 tensors
  // themselves, so the targets are read in place.
  void set_image(int64_t b, const Targets& targets) {
    image_ = b;
    n_ = targets.size();
    labels_ = targets.labels.to(torch::kCPU, torch::kLong).contiguous();
    torch::Tensor boxes = targets.boxes.to(torch::kCPU, torch::kFloat).contiguous();
    const float* t = boxes.data_ptr<float>();
    // Structure of arrays, so that the pair loop below runs over targets in vector registers.
    for (auto* field : {&cx_, &cy_, &w_, &h_, &x1_, &y1_, &x2_, &y2_, &area_}) field->resize(static_cast<size_t>(n_));
    for (int64_t j = 0; j < n_; ++j) {
      cx_[j] = t[4 * j], cy_[j] = t[4 * j + 1], w_[j] = t[4 * j + 2], h_[j] = t[4 * j + 3];
      x1_[j] = cx_[j] - 0.5 * w_[j], y1_[j] = cy_[j] - 0.5 * h_[j];
      x2_[j] = cx_[j] + 0.5 * w_[j], y2_[j] = cy_[j] + 0.5 * h_[j];
      area_[j] = (x2_[j] - x1_[j]) * (y2_[j] - y1_[j]);
    }
  }

  // The current image's queries first_query .. first_query + rows - 1 against its targets,
  // row-major [rows, n], into `block`.
  void fill(int64_t first_query, int64_t rows, std::vector<double>& block) const {
    constexpr double kMinArea = 1e-12;  // as generalized_box_iou clamps
    block.resize(static_cast<size_t>(rows * n_));
    const int64_t* label = labels_.data_ptr<int64_t>();
    const float* all_class_costs = class_costs_.data_ptr<float>();
    const float* all_boxes = boxes_.data_ptr<float>();
    const double bbox_weight = options_.bbox_weight, giou_weight = options_.giou_weight;
    const double *cx = cx_.data(), *cy = cy_.data(), *w = w_.data(), *h = h_.data();
    const double *x1 = x1_.data(), *y1 = y1_.data(), *x2 = x2_.data(), *y2 = y2_.data(), *area = area_.data();
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t q = image_ * queries_ + first_query + r;
      const float* p = all_boxes + q * 4;
      const double pcx = p[0], pcy = p[1], pw = p[2], ph = p[3];
      const double px1 = pcx - 0.5 * pw, py1 = pcy - 0.5 * ph, px2 = pcx + 0.5 * pw, py2 = pcy + 0.5 * ph;
      const double p_area = (px2 - px1) * (py2 - py1);
      double* out = &block[static_cast<size_t>(r * n_)];
      for (int64_t j = 0; j < n_; ++j) {
        const double l1 = std::abs(pcx - cx[j]) + std::abs(pcy - cy[j]) + std::abs(pw - w[j]) + std::abs(ph - h[j]);
        const double iw = std::max(0.0, std::min(px2, x2[j]) - std::max(px1, x1[j]));
        const double ih = std::max(0.0, std::min(py2, y2[j]) - std::max(py1, y1[j]));
        const double intersection = iw * ih;
        const double union_area = p_area + area[j] - intersection;
        const double enclosing = std::max(
            kMinArea, (std::max(px2, x2[j]) - std::min(px1, x1[j])) * (std::max(py2, y2[j]) - std::min(py1, y1[j])));
        const double giou = intersection / std::max(union_area, kMinArea) - (enclosing - union_area) / enclosing;
        out[j] = bbox_weight * l1 - giou_weight * giou;
      }
      const float* class_cost = all_class_costs + q * classes_;
      for (int64_t j = 0; j < n_; ++j) out[j] += double(class_cost[label[j]]);
    }
  }

 private:
  MatcherOptions options_;
  torch::Tensor class_costs_, boxes_, labels_;  // [B, Q, K] and [B, Q, 4] float; [n] int64
  int64_t queries_ = 0, classes_ = 0, image_ = 0, n_ = 0;
  std::vector<double> cx_, cy_, w_, h_, x1_, y1_, x2_, y2_, area_;  // the current image's targets
};

// An int64 CPU tensor holding `values`.
torch::Tensor index_tensor(const std::vector<int64_t>& values) {
  torch::Tensor t = torch::empty({static_cast<int64_t>(values.size())}, torch::kLong);
  std::copy(values.begin(), values.end(), t.data_ptr<int64_t>());
  return t;
}
}  // namespace

std::vector<Match> HungarianMatcher::operator()(const torch::Tensor& logits, const torch::Tensor& boxes,
                                                const std::vector<Targets>& targets, int64_t groups) const {
  const int64_t queries = logits.size(1);
  if (groups < 1 || queries % groups != 0)
    throw std::invalid_argument(fmt::format("{} queries do not split into {} groups", queries, groups));
  // On a GPU, one batched pass and one copy to the host for the whole batch; on the CPU, each
  // image's block computed on plain arrays right before it is solved.
  check_inputs(logits, boxes, targets);
  torch::NoGradGuard no_grad;
  const bool on_host = logits.device().is_cpu();
  torch::Tensor costs =
      on_host ? torch::Tensor() : padded_cost(logits, boxes, targets).to(torch::kCPU, torch::kDouble).contiguous();
  std::optional<HostCosts> host;
  if (on_host) host.emplace(logits, boxes, options_);
  const int64_t group_size = queries / groups, most = on_host ? 0 : costs.size(2);
  const double* all = on_host ? nullptr : costs.data_ptr<double>();

  std::vector<Match> matches;
  matches.reserve(targets.size());
  std::vector<double> block;
  std::vector<int64_t> matched_queries, matched_targets;
  for (size_t b = 0; b < targets.size(); ++b) {
    const int64_t n = targets[b].size();
    matched_queries.clear();
    matched_targets.clear();
    if (on_host && n > 0) host->set_image(static_cast<int64_t>(b), targets[b]);
    for (int64_t g = 0; g < groups && n > 0; ++g) {
      // This group's rows and this image's own columns, as a plain row-major array.
      if (on_host) {
        host->fill(g * group_size, group_size, block);
      } else {
        block.resize(static_cast<size_t>(group_size * n));
        for (int64_t q = 0; q < group_size; ++q) {
          const double* row = all + (static_cast<int64_t>(b) * queries + g * group_size + q) * most;
          std::copy(row, row + n, block.begin() + q * n);
        }
      }
      std::string context = groups == 1 ? fmt::format("image {}", b) : fmt::format("image {}, query group {}", b, g);
      Assignment a = linear_sum_assignment(block, group_size, n, context);
      for (size_t k = 0; k < a.rows.size(); ++k) {
        matched_queries.push_back(g * group_size + a.rows[k]);
        matched_targets.push_back(a.columns[k]);
      }
    }
    matches.push_back({index_tensor(matched_queries), index_tensor(matched_targets)});
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
