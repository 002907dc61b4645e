#include "detection/matcher.hpp"

#include <fmt/format.h>

#include <ATen/CPUGeneratorImpl.h>
#include <immintrin.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "detection/assignment.hpp"
#include "detection/box_ops.hpp"
#include "nn/simd.hpp"

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
// Four lanes in GCC's vector extension: the same source compiles to AVX2 in fill_avx2() and to
// pairs of SSE2 operations in fill_portable(), with the same IEEE result in every lane.
typedef double Doubles __attribute__((vector_size(32)));
typedef int64_t Longs __attribute__((vector_size(32)));
// The helpers below return such vectors by value (and take them by reference); they are always
// inlined, so which calling convention (AVX or SSE) would return them never matters.
#pragma GCC diagnostic ignored "-Wpsabi"

[[gnu::always_inline]] inline void load(const double* p, double& x) { x = *p; }
[[gnu::always_inline]] inline void load(const double* p, Doubles& x) { std::memcpy(&x, p, sizeof x); }
[[gnu::always_inline]] inline void store(double* p, double x) { *p = x; }
[[gnu::always_inline]] inline void store(double* p, const Doubles& x) { std::memcpy(p, &x, sizeof x); }
template <class V>
[[gnu::always_inline]] inline V splat(double x) {
  if constexpr (std::is_same_v<V, double>)
    return x;
  else
    return V{x, x, x, x};
}
[[gnu::always_inline]] inline double magnitude(double x) { return std::abs(x); }
[[gnu::always_inline]] inline Doubles magnitude(const Doubles& x) { return (Doubles)((Longs)x & INT64_MAX); }
// std::min and std::max as the selects they are, lane by lane.
template <class V>
[[gnu::always_inline]] inline V smaller(const V& a, const V& b) {
  return b < a ? b : a;
}
template <class V>
[[gnu::always_inline]] inline V larger(const V& a, const V& b) {
  return a < b ? b : a;
}

// Queries or targets as structure of arrays: centre form from the inputs, corners and area derived.
struct Boxes {
  std::vector<double> cx, cy, w, h, x1, y1, x2, y2, area;
  void resize(size_t n) {
    for (auto* field : {&cx, &cy, &w, &h, &x1, &y1, &x2, &y2, &area}) field->resize(n);
  }
  // Box i from the floats (cx, cy, w, h) at p.
  void set(size_t i, const float* p) {
    cx[i] = p[0], cy[i] = p[1], w[i] = p[2], h[i] = p[3];
    x1[i] = cx[i] - 0.5 * w[i], y1[i] = cy[i] - 0.5 * h[i];
    x2[i] = cx[i] + 0.5 * w[i], y2[i] = cy[i] + 0.5 * h[i];
    area[i] = (x2[i] - x1[i]) * (y2[i] - y1[i]);
  }
};

struct FillArgs {
  const Boxes* queries;             // the image's queries
  const Boxes* targets;             // the image's targets
  const double* const* class_cost;  // per target: its class's cost for each of the image's queries
  int64_t first_query, count, targets_count;
  double bbox_weight, giou_weight;
  double* block;  // [targets_count, count] row-major
};

// One target's box in every lane, and the queries' arrays as plain pointers: both held in
// locals, so that the compiler need not reload them after each store to the block.
template <class V>
struct TargetLanes {
  V cx, cy, w, h, x1, y1, x2, y2, area;
};
struct QueryArrays {
  const double *cx, *cy, *w, *h, *x1, *y1, *x2, *y2, *area, *class_cost;
};

// Queries j..j+lanes-1 against target t: the formulas of batched_costs() in double, every
// operation in the same order for four lanes as for one, so that both give the same bits.
template <class V>
[[gnu::always_inline]] inline V pair_cost(const QueryArrays& q, const TargetLanes<V>& t, int64_t j, double bbox_weight,
                                          double giou_weight) {
  constexpr double kMinArea = 1e-12;  // as generalized_box_iou clamps
  V cx, cy, w, h, x1, y1, x2, y2, area, class_cost;
  load(q.cx + j, cx), load(q.cy + j, cy), load(q.w + j, w), load(q.h + j, h);
  load(q.x1 + j, x1), load(q.y1 + j, y1), load(q.x2 + j, x2), load(q.y2 + j, y2), load(q.area + j, area);
  load(q.class_cost + j, class_cost);
  const V zero = splat<V>(0.0), min_area = splat<V>(kMinArea);
  const V l1 = magnitude(cx - t.cx) + magnitude(cy - t.cy) + magnitude(w - t.w) + magnitude(h - t.h);
  const V iw = larger(zero, smaller(x2, t.x2) - larger(x1, t.x1));
  const V ih = larger(zero, smaller(y2, t.y2) - larger(y1, t.y1));
  const V intersection = iw * ih;
  const V union_area = area + t.area - intersection;
  const V enclosing = larger(min_area, (larger(x2, t.x2) - smaller(x1, t.x1)) * (larger(y2, t.y2) - smaller(y1, t.y1)));
  const V giou = intersection / larger(union_area, min_area) - (enclosing - union_area) / enclosing;
  return bbox_weight * l1 - giou_weight * giou + class_cost;
}

template <class V>
[[gnu::always_inline]] inline TargetLanes<V> target_lanes(const Boxes& g, int64_t t) {
  return {splat<V>(g.cx[t]), splat<V>(g.cy[t]), splat<V>(g.w[t]),  splat<V>(g.h[t]),   splat<V>(g.x1[t]),
          splat<V>(g.y1[t]), splat<V>(g.x2[t]), splat<V>(g.y2[t]), splat<V>(g.area[t])};
}

// A double is infinite or NaN when its exponent bits are all ones.
constexpr int64_t kExponentBits = 0x7ff0000000000000ll;

// Fills the block; false when a cost came out NaN or infinite, found on the way.
[[gnu::always_inline]] inline bool fill(const FillArgs& a) {
  const Boxes& b = *a.queries;
  const int64_t count = a.count, first = a.first_query;
  const double bbox_weight = a.bbox_weight, giou_weight = a.giou_weight;
  Longs non_finite = {0, 0, 0, 0};
  bool tail_non_finite = false;
  for (int64_t t = 0; t < a.targets_count; ++t) {
    const QueryArrays q{&b.cx[first], &b.cy[first], &b.w[first],  &b.h[first],    &b.x1[first],
                        &b.y1[first], &b.x2[first], &b.y2[first], &b.area[first], a.class_cost[t] + first};
    const TargetLanes<Doubles> lanes = target_lanes<Doubles>(*a.targets, t);
    double* row = a.block + t * count;
    int64_t j = 0;
    for (; j + 4 <= count; j += 4) {
      const Doubles cost = pair_cost(q, lanes, j, bbox_weight, giou_weight);
      non_finite |= ((Longs)cost & kExponentBits) == kExponentBits;
      store(row + j, cost);
    }
    const TargetLanes<double> one = target_lanes<double>(*a.targets, t);
    for (; j < count; ++j) {
      row[j] = pair_cost(q, one, j, bbox_weight, giou_weight);
      tail_non_finite |= !std::isfinite(row[j]);
    }
  }
  return !tail_non_finite && (non_finite[0] | non_finite[1] | non_finite[2] | non_finite[3]) == 0;
}
[[gnu::target("avx2")]] bool fill_avx2(const FillArgs& a) { return fill(a); }
bool fill_portable(const FillArgs& a) { return fill(a); }

typedef float Floats __attribute__((vector_size(32)));

// ATen's AVX2 last-dim softmax (at::softmax on CPU float) for eight rows at once, one row per
// lane, with its operations in its order: the max, e^(x - max) from Sleef, the sum as its
// reduce_all adds (eight-wide partial sums, then halves, quarters and pairs; in order when the
// row is narrower than eight), then e times 1 / sum. logits [width, queries] (queries a multiple
// of 8) -> probabilities [width, queries], so every row's values have ATen's bits; ATen spends
// most of its time on each row's partial last vector instead.
[[gnu::target("avx2")]] void softmax_avx2(const float* logits, int64_t width, int64_t queries, float* probabilities) {
  Floats e[64];  // width <= 64, checked by the caller
  for (int64_t j = 0; j < queries; j += 8) {
    Floats most, x;
    std::memcpy(&most, logits + j, sizeof most);
    for (int64_t k = 1; k < width; ++k) {
      std::memcpy(&x, logits + k * queries + j, sizeof x);
      most = (Floats)_mm256_max_ps((__m256)x, (__m256)most);
    }
    for (int64_t k = 0; k < width; ++k) {
      std::memcpy(&x, logits + k * queries + j, sizeof x);
      e[k] = (Floats)Sleef_expf8_u10avx2((__m256)(x - most));
    }
    Floats sum;
    if (width < 8) {
      sum = e[0];
      for (int64_t k = 1; k < width; ++k) sum = sum + e[k];
    } else {
      Floats lane[8];
      for (int64_t i = 0; i < 8; ++i) lane[i] = e[i];
      for (int64_t k = 8; k < width; ++k) lane[k % 8] = lane[k % 8] + e[k];
      const Floats quarter[4] = {lane[0] + lane[4], lane[1] + lane[5], lane[2] + lane[6], lane[3] + lane[7]};
      sum = (quarter[0] + quarter[2]) + (quarter[1] + quarter[3]);
    }
    const Floats inverse = 1.0f / sum;
    for (int64_t k = 0; k < width; ++k) {
      const Floats p = e[k] * inverse;
      std::memcpy(probabilities + k * queries + j, &p, sizeof p);
    }
  }
}

// t itself when it already is a contiguous CPU tensor of `dtype` (the matcher's inputs mostly
// are: a no-op .to() still costs a dispatch), else a converted copy.
torch::Tensor on_host(const torch::Tensor& t, torch::ScalarType dtype) {
  if (t.is_cpu() && t.scalar_type() == dtype && t.is_contiguous()) return t;
  return t.to(torch::kCPU, dtype).contiguous();
}

// The CPU path's inputs, prepared once per batch: the predicted boxes, and either the logits,
// for a softmax per image, or ATen's class term of every query against every class. Each
// image's cost block is then computed right before it is solved, targets as rows and queries
// as columns (the solver's shorter side first, so that nothing is transposed while targets are
// fewer than queries), into one reused buffer that stays in cache, in a loop over queries that
// fuses the class, L1 and GIoU terms per pair (a dozen tensor ops over padded targets cost more
// here). Same formulas as batched_costs(), summed in double.
class HostCosts {
 public:
  HostCosts(const torch::Tensor& logits, const torch::Tensor& boxes, const MatcherOptions& o)
      : options_(o), avx2_(o.avx2 && __builtin_cpu_supports("avx2")) {
    torch::Tensor l = on_host(logits, torch::kFloat);
    queries_ = l.size(1);
    // The softmax per image, for its targets' classes only, on every CPU with AVX2 (AVX-512 ones
    // too): its bits equal ATen's AVX2 kernel's, not necessarily ATen's AVX-512 one's, which
    // matching does not need (tests compare the assignments' costs).
    own_softmax_ = !o.focal && avx2_ && l.size(2) <= 64;
    if (own_softmax_) {
      logits_ = l;
      classes_ = l.size(2);
      padded_queries_ = (queries_ + 7) / 8 * 8;
      logits_t_.assign(static_cast<size_t>(classes_ * padded_queries_), 0.0f);
      probabilities_.resize(logits_t_.size());
    } else {
      if (o.focal) {
        torch::Tensor p = l.narrow(2, 0, l.size(2) - 1).sigmoid();
        const double a = o.focal_alpha, g = o.focal_gamma, eps = 1e-8;
        class_costs_ = a * (1 - p).pow(g) * -(p + eps).log() - (1 - a) * p.pow(g) * -(1 - p + eps).log();
      } else {
        class_costs_ = -l.softmax(2);
      }
      class_costs_ = class_costs_.mul_(o.class_weight).contiguous();
      classes_ = class_costs_.size(2);
    }
    boxes_ = on_host(boxes, torch::kFloat);
    query_boxes_.resize(static_cast<size_t>(queries_));
    class_rows_.resize(static_cast<size_t>(classes_ * queries_));
  }

  // Image b's queries and targets; the targets are read in place when they are CPU float and int64.
  void set_image(int64_t b, const Targets& targets) {
    n_ = targets.size();
    const float* q = boxes_.data_ptr<float>() + b * queries_ * 4;
    for (int64_t i = 0; i < queries_; ++i) query_boxes_.set(static_cast<size_t>(i), q + 4 * i);
    torch::Tensor labels = on_host(targets.labels, torch::kLong), boxes = on_host(targets.boxes, torch::kFloat);
    const int64_t* label = labels.data_ptr<int64_t>();
    const float* t = boxes.data_ptr<float>();
    target_boxes_.resize(static_cast<size_t>(n_));
    for (int64_t j = 0; j < n_; ++j) target_boxes_.set(static_cast<size_t>(j), t + 4 * j);
    // Each target class's costs for all queries, contiguous: class_rows_[k * Q + q].
    if (own_softmax_) {
      const float* l = logits_.data_ptr<float>() + b * queries_ * classes_;
      for (int64_t i = 0; i < queries_; ++i)
        for (int64_t k = 0; k < classes_; ++k) logits_t_[k * padded_queries_ + i] = l[i * classes_ + k];
      softmax_avx2(logits_t_.data(), classes_, padded_queries_, probabilities_.data());
    }
    const float* class_costs = own_softmax_ ? nullptr : class_costs_.data_ptr<float>() + b * queries_ * classes_;
    // As -softmax(2).mul_(class_weight) computes it, in float.
    const float class_weight = static_cast<float>(options_.class_weight);
    target_class_cost_.resize(static_cast<size_t>(n_));
    filled_.assign(static_cast<size_t>(classes_), 0);
    for (int64_t j = 0; j < n_; ++j) {
      const int64_t k = label[j];
      double* row = &class_rows_[static_cast<size_t>(k * queries_)];
      if (!filled_[k]) {
        if (own_softmax_) {
          const float* p = &probabilities_[static_cast<size_t>(k * padded_queries_)];
          for (int64_t i = 0; i < queries_; ++i) row[i] = double(-p[i] * class_weight);
        } else {
          for (int64_t i = 0; i < queries_; ++i) row[i] = double(class_costs[i * classes_ + k]);
        }
        filled_[k] = 1;
      }
      target_class_cost_[j] = row;
    }
  }

  // The current image's queries first_query .. first_query + count - 1 against its targets,
  // row-major [n, count], into `block`; false when a cost is NaN or infinite.
  bool fill(int64_t first_query, int64_t count, std::vector<double>& block) const {
    block.resize(static_cast<size_t>(n_ * count));
    const FillArgs a{
        &query_boxes_,        &target_boxes_, target_class_cost_.data(), first_query, count, n_, options_.bbox_weight,
        options_.giou_weight, block.data()};
    return avx2_ ? fill_avx2(a) : fill_portable(a);
  }

 private:
  MatcherOptions options_;
  bool avx2_;
  bool own_softmax_ = false;
  // class_costs_ [B, Q, K] (K + 1 without focal) when ATen computes them, else logits_
  // [B, Q, K + 1]; boxes_ [B, Q, 4]; all float.
  torch::Tensor class_costs_, logits_, boxes_;
  int64_t queries_ = 0, classes_ = 0, n_ = 0, padded_queries_ = 0;
  std::vector<float> logits_t_, probabilities_;  // the current image's, [classes_, padded_queries_]
  Boxes query_boxes_, target_boxes_;             // the current image's
  std::vector<double> class_rows_;
  std::vector<const double*> target_class_cost_;
  std::vector<char> filled_;
};

// Throws when a cost of image b's block [targets, count] (row stride `stride`) for query group
// g (-1: no groups) is NaN or infinite, naming the first such pair in query order: one integer
// pass that vectorises, then a search only when there is one (or straight away when the caller
// already knows, known_non_finite).
void check_finite(const double* block, int64_t targets, int64_t count, int64_t stride, int64_t first_query, size_t b,
                  int64_t g, bool known_non_finite = false) {
  int64_t non_finite = known_non_finite;
  for (int64_t t = 0; t < targets && !non_finite; ++t)
    for (int64_t q = 0; q < count; ++q) {
      int64_t bits;
      std::memcpy(&bits, block + t * stride + q, sizeof bits);
      non_finite |= static_cast<int64_t>((bits & kExponentBits) == kExponentBits);
    }
  for (int64_t q = 0; q < count && non_finite; ++q)
    for (int64_t t = 0; t < targets; ++t)
      if (!std::isfinite(block[t * stride + q]))
        throw std::invalid_argument(
            fmt::format("image {}{}: the matching cost of query {} and target {} is {}; costs must be finite", b,
                        g < 0 ? "" : fmt::format(", query group {}", g), first_query + q, t, block[t * stride + q]));
}

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
  // On a GPU, one batched pass, transposed there to targets x queries, and one copy to the
  // host for the whole batch; on the CPU, each image's block computed on plain arrays right
  // before it is solved.
  check_inputs(logits, boxes, targets);
  torch::NoGradGuard no_grad;
  const bool on_cpu = logits.device().is_cpu();
  torch::Tensor costs =
      on_cpu ? torch::Tensor()
             : padded_cost(logits, boxes, targets).transpose(1, 2).contiguous().to(torch::kCPU, torch::kDouble);
  std::optional<HostCosts> host;
  if (on_cpu) host.emplace(logits, boxes, options_);
  const int64_t group_size = queries / groups, most = on_cpu ? 0 : costs.size(1);
  const double* all = on_cpu ? nullptr : costs.data_ptr<double>();

  std::vector<Match> matches;
  matches.reserve(targets.size());
  RowAssigner solver(options_.avx2);
  std::vector<double> block, transposed;
  std::vector<std::pair<int64_t, int64_t>> pairs;  // (query, target)
  std::vector<int64_t> matched_queries, matched_targets;
  for (size_t b = 0; b < targets.size(); ++b) {
    const int64_t n = targets[b].size();
    pairs.clear();
    if (on_cpu && n > 0) host->set_image(static_cast<int64_t>(b), targets[b]);
    for (int64_t g = 0; g < groups && n > 0; ++g) {
      // This group's queries against this image's targets, targets as rows.
      const int64_t first_query = g * group_size;
      const double* cost;
      int64_t stride;
      if (on_cpu) {
        if (!host->fill(first_query, group_size, block))
          check_finite(block.data(), n, group_size, group_size, first_query, b, groups == 1 ? -1 : g, true);
        cost = block.data(), stride = group_size;
      } else {
        cost = all + static_cast<int64_t>(b) * most * queries + first_query, stride = queries;
        check_finite(cost, n, group_size, stride, first_query, b, groups == 1 ? -1 : g);
      }
      if (n < group_size) {
        const std::vector<int64_t>& query_of_target = solver.solve(cost, n, group_size, stride);
        for (int64_t t = 0; t < n; ++t) pairs.emplace_back(first_query + query_of_target[t], t);
      } else {
        // At least as many targets as queries: every query gets one, queries as rows, which is
        // how linear_sum_assignment breaks ties for this shape (and the square one).
        transposed.resize(static_cast<size_t>(group_size * n));
        for (int64_t t = 0; t < n; ++t)
          for (int64_t q = 0; q < group_size; ++q) transposed[q * n + t] = cost[t * stride + q];
        const std::vector<int64_t>& target_of_query = solver.solve(transposed.data(), group_size, n, n);
        for (int64_t q = 0; q < group_size; ++q) pairs.emplace_back(first_query + q, target_of_query[q]);
      }
    }
    std::sort(pairs.begin(), pairs.end());
    matched_queries.clear();
    matched_targets.clear();
    for (auto [query, target] : pairs) matched_queries.push_back(query), matched_targets.push_back(target);
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
