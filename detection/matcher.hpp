// DETR's bipartite matching of predicted boxes to ground-truth objects: the costs of the whole
// batch in one pass over padded targets, one copy to the host, then one assignment per image on
// plain arrays.
#pragma once

#include <torch/types.h>

#include <vector>

#include "detection/targets.hpp"

namespace genbox::detection {

struct MatcherOptions {
  double class_weight = 1;  // on -p(class), or on the focal class cost
  double bbox_weight = 5;   // on the L1 distance of normalised (cx, cy, w, h)
  double giou_weight = 2;   // on -GIoU
  // The focal class cost of Deformable DETR: sigmoid probabilities of the first K logits (the
  // no-object logit is ignored), cost alpha (1-p)^gamma (-log p) - (1-alpha) p^gamma (-log(1-p)).
  bool focal = false;
  double focal_alpha = 0.25, focal_gamma = 2;
  // The CPU path's cost and assignment loops run four lanes at a time and its softmax eight
  // rows at a time, on any CPU with AVX2 (AVX-512 ones too); false runs their portable build and
  // ATen's softmax, which give assignments of the same cost (tests compare them).
  bool avx2 = true;
};

// One image's matched pairs: prediction queries[i] is assigned to target targets[i]. Both are
// int64 CPU tensors of the same length, ordered by query.
struct Match {
  torch::Tensor queries, targets;
  int64_t size() const { return queries.size(0); }
};

class HungarianMatcher {
 public:
  explicit HungarianMatcher(const MatcherOptions& options = {});

  // The matching cost of every query against every target of the batch: logits [B, Q, K+1],
  // boxes [B, Q, 4] (cx, cy, w, h) in [0, 1] -> [B, Q, sum of n_i], where image b's own targets
  // are the columns after those of images 0..b-1. Computed without gradients.
  torch::Tensor cost(const torch::Tensor& logits, const torch::Tensor& boxes,
                     const std::vector<Targets>& targets) const;

  // Every image's queries against its own targets, in one batched pass: [B, Q, N] where N is the
  // most targets of any image; image b's columns past its n_b targets are padding (finite,
  // meaningless). Computed without gradients, on the predictions' device.
  torch::Tensor padded_cost(const torch::Tensor& logits, const torch::Tensor& boxes,
                            const std::vector<Targets>& targets) const;

  // A minimum-cost one-to-one assignment per image of min(Q, n_i) pairs; an image without targets
  // gets an empty match. With groups > 1 the Q queries form `groups` consecutive blocks of
  // Q / groups, each matched independently to all of the image's targets (Group DETR's
  // one-to-many training), so every target appears once per group; query indices stay indices
  // into all Q. A non-finite cost throws std::invalid_argument naming the image (and group).
  std::vector<Match> operator()(const torch::Tensor& logits, const torch::Tensor& boxes,
                                const std::vector<Targets>& targets, int64_t groups = 1) const;

  const MatcherOptions& options() const { return options_; }

 private:
  // The cost of each batch element's queries against its targets: logits [B, Q, K+1] and boxes
  // [B, Q, 4] against labels [B, M] and boxes [B, M, 4] -> [B, Q, M].
  torch::Tensor batched_costs(const torch::Tensor& logits, const torch::Tensor& boxes, const torch::Tensor& labels,
                              const torch::Tensor& target_boxes) const;
  MatcherOptions options_;
};

// The matching problem `detr bench` times: `images` images of `queries` random predictions over
// `classes` classes, each with 1..20 random targets on a 64 x 64 canvas, drawn from `seed`.
struct MatchingProblem {
  torch::Tensor logits, boxes;  // [images, queries, classes + 1], [images, queries, 4]
  std::vector<Targets> targets;
  int64_t target_count = 0;
  // The same problem on `device`.
  MatchingProblem to(const torch::Device& device) const;
};
MatchingProblem random_matching_problem(int64_t images, int64_t queries, int64_t classes, uint64_t seed);

}  // namespace genbox::detection
