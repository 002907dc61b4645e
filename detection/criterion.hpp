// DETR's set prediction loss: Hungarian matching, then classification of every query and box
// regression of the matched ones, on the final and every auxiliary decoder layer.
#pragma once

#include <functional>

#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

#include "detection/matcher.hpp"
#include "detection/predictions.hpp"
#include "detection/targets.hpp"

namespace genbox::detection {

struct CriterionOptions {
  int64_t num_classes = 10;  // K real classes; class K is "no object"
  // Loss coefficients of the weighted total.
  double ce_weight = 1, bbox_weight = 5, giou_weight = 2;
  // Matching cost weights (MatcherOptions).
  double class_cost = 1, bbox_cost = 5, giou_cost = 2;
  double no_object_weight = 0.1;  // cross-entropy weight of the no-object class
  // Sigmoid focal loss (Lin et al. 2017) over the K real classes instead of the cross-entropy,
  // with the focal class cost in the matcher; unmatched queries are all-negative.
  bool focal = false;
  double focal_alpha = 0.25, focal_gamma = 2;
  // Group DETR: the queries form this many groups, each matched one-to-one independently. It
  // must describe the outputs given: a model in eval mode decodes group 0 alone, so losses of
  // its outputs need a criterion with query_groups = 1.
  int64_t query_groups = 1;
};

struct LayerLosses {
  torch::Tensor ce;    // cross-entropy (or focal loss) of the class predictions
  torch::Tensor bbox;  // L1 of matched normalised (cx, cy, w, h), per target box
  torch::Tensor giou;  // 1 - GIoU of matched boxes, per target box
};

struct SetLosses {
  std::vector<LayerLosses> layers;  // one per decoder layer, the final layer last
  torch::Tensor total;              // sum over layers of the weighted ce, bbox and giou terms

  // For logging: "loss" (the total), "loss_ce", "loss_bbox", "loss_giou" for the final layer and
  // "loss_ce_0", "loss_bbox_0", ... for the auxiliary layers from the first.
  std::vector<std::pair<std::string, torch::Tensor>> named() const;
};

class SetCriterion {
 public:
  explicit SetCriterion(const CriterionOptions& options);

  // Each layer is matched on its own. The box losses are sums over matched pairs divided by the
  // number of target boxes in the batch times query_groups (at least 1), so that each group
  // weighs as much as a single-group model. The cross-entropy is the no-object-weighted mean
  // over all queries; the focal loss is its sum over queries and classes divided by the same
  // box count. Targets may live on any device.
  //
  // Under data parallelism each process holds a slice of the batch; `share`, when given, maps a
  // normaliser of this slice (the box count, the cross-entropy's weight total) to the global
  // batch's divided by the number of processes (a sum over processes / world size), so that
  // each process's loss is its share of the batch's and averaging gradients gives the batch's,
  // whatever the number of processes. The DETR reference does this for the box count.
  using Share = std::function<double(double)>;
  SetLosses operator()(const DetrOutput& output, const std::vector<Targets>& targets, const Share& share = {}) const;

  const CriterionOptions& options() const { return options_; }
  const HungarianMatcher& matcher() const { return matcher_; }

 private:
  LayerLosses layer_losses(const torch::Tensor& logits, const torch::Tensor& boxes, const std::vector<Targets>& targets,
                           const PaddedTargets& padded, double box_count, const Share& share) const;

  CriterionOptions options_;
  HungarianMatcher matcher_;
};

}  // namespace genbox::detection
