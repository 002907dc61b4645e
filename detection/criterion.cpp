#include "detection/criterion.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <stdexcept>

#include "common/device.hpp"
#include "detection/box_ops.hpp"

namespace genbox::detection {

namespace {
MatcherOptions matcher_options(const CriterionOptions& o) {
  MatcherOptions m;
  m.class_weight = o.class_cost;
  m.bbox_weight = o.bbox_cost;
  m.giou_weight = o.giou_cost;
  m.focal = o.focal;
  m.focal_alpha = o.focal_alpha;
  m.focal_gamma = o.focal_gamma;
  return m;
}

// Summed over all elements, as in Lin et al. 2017 eq. 5 with alpha balancing.
torch::Tensor sigmoid_focal_loss(const torch::Tensor& logits, const torch::Tensor& targets, double alpha,
                                 double gamma) {
  torch::Tensor p = logits.sigmoid();
  torch::Tensor ce = torch::binary_cross_entropy_with_logits(logits, targets, {}, {}, at::Reduction::None);
  torch::Tensor p_t = p * targets + (1 - p) * (1 - targets);
  torch::Tensor alpha_t = alpha * targets + (1 - alpha) * (1 - targets);
  return (alpha_t * ce * (1 - p_t).pow(gamma)).sum();
}
}  // namespace

std::vector<std::pair<std::string, torch::Tensor>> SetLosses::named() const {
  std::vector<std::pair<std::string, torch::Tensor>> out{{"loss", total}};
  for (size_t i = 0; i < layers.size(); ++i) {
    std::string suffix = i + 1 == layers.size() ? "" : fmt::format("_{}", i);
    out.emplace_back("loss_ce" + suffix, layers[i].ce);
    out.emplace_back("loss_bbox" + suffix, layers[i].bbox);
    out.emplace_back("loss_giou" + suffix, layers[i].giou);
  }
  return out;
}

SetCriterion::SetCriterion(const CriterionOptions& options) : options_(options), matcher_(matcher_options(options)) {
  if (options.num_classes < 1) throw std::invalid_argument("the set criterion needs at least one class");
  if (options.query_groups < 1) throw std::invalid_argument("the set criterion needs at least one query group");
}

SetLosses SetCriterion::operator()(const DetrOutput& output, const std::vector<Targets>& targets,
                                   const Share& share) const {
  if (output.layers() == 0 || output.logits.size() != output.boxes.size())
    throw std::invalid_argument("the set criterion needs logits and boxes for at least one decoder layer");
  if (output.final_logits().size(2) != options_.num_classes + 1)
    throw std::invalid_argument(fmt::format("the set criterion expects {} class logits (with no-object), got {}",
                                            options_.num_classes + 1, output.final_logits().size(2)));
  // Matching costs, GIoU and every loss in fp32, whatever autocast is on around the caller.
  Fp32Island fp32(output.final_logits().device());
  int64_t target_boxes = 0;
  for (const Targets& t : targets) target_boxes += t.size();
  double boxes = share ? share(static_cast<double>(target_boxes)) : static_cast<double>(target_boxes);
  double box_count = std::max<double>(1.0, boxes * static_cast<double>(options_.query_groups));

  // Every layer gathers its matched targets from one padded copy of the batch's, flattened so
  // that image b's target t is row b * most + t.
  PaddedTargets padded = pad_targets(targets, output.final_logits().device());
  padded.labels = padded.labels.view({-1});
  padded.boxes = padded.boxes.view({-1, 4});

  SetLosses losses;
  for (int64_t i = 0; i < output.layers(); ++i) {
    LayerLosses layer = layer_losses(output.logits[i], output.boxes[i], targets, padded, box_count, share);
    torch::Tensor weighted =
        options_.ce_weight * layer.ce + options_.bbox_weight * layer.bbox + options_.giou_weight * layer.giou;
    losses.total = losses.total.defined() ? losses.total + weighted : weighted;
    losses.layers.push_back(layer);
  }
  return losses;
}

LayerLosses SetCriterion::layer_losses(const torch::Tensor& logits, const torch::Tensor& predicted_boxes,
                                       const std::vector<Targets>& targets, const PaddedTargets& padded,
                                       double box_count, const Share& share) const {
  const torch::Tensor class_logits = logits.to(torch::kFloat), boxes = predicted_boxes.to(torch::kFloat);
  std::vector<Match> matches = matcher_(class_logits, boxes, targets, options_.query_groups);
  const auto device = logits.device();
  // The matched pairs of every image as three index lists, built on the host and moved in one
  // copy; the targets then come out of the padded batch in one indexed op each.
  std::vector<int64_t> pairs;  // image, query, row of the padded targets; per pair
  for (size_t b = 0; b < matches.size(); ++b) {
    const int64_t* q = matches[b].queries.data_ptr<int64_t>();
    const int64_t* t = matches[b].targets.data_ptr<int64_t>();
    for (int64_t k = 0; k < matches[b].size(); ++k)
      pairs.insert(pairs.end(), {static_cast<int64_t>(b), q[k], static_cast<int64_t>(b) * padded.most + t[k]});
  }
  torch::Tensor index = torch::tensor(pairs, torch::kLong).view({-1, 3}).t().contiguous().to(device);
  torch::Tensor image_index = index[0], query_index = index[1];
  torch::Tensor matched_labels = padded.labels.index_select(0, index[2]);
  const int64_t classes = options_.num_classes;

  LayerLosses out;
  if (options_.focal) {
    // One-hot over the real classes; the no-object logit takes no part.
    torch::Tensor onehot = torch::zeros({logits.size(0), logits.size(1), classes}, class_logits.options());
    onehot.index_put_({image_index, query_index, matched_labels}, 1.0);
    out.ce =
        sigmoid_focal_loss(class_logits.narrow(2, 0, classes), onehot, options_.focal_alpha, options_.focal_gamma) /
        box_count;
  } else {
    torch::Tensor target_classes =
        torch::full({logits.size(0), logits.size(1)}, classes, torch::TensorOptions(device).dtype(torch::kLong));
    target_classes.index_put_({image_index, query_index}, matched_labels);
    torch::Tensor class_weights = torch::ones({classes + 1}, class_logits.options());
    class_weights[classes] = options_.no_object_weight;
    // The weighted mean over queries, its weight total shared out when the batch is split.
    torch::Tensor weighted = torch::nn::functional::cross_entropy(
        class_logits.flatten(0, 1), target_classes.flatten(),
        torch::nn::functional::CrossEntropyFuncOptions().weight(class_weights).reduction(torch::kSum));
    if (share) {
      double weight_total = class_weights.index_select(0, target_classes.flatten()).sum().item<double>();
      out.ce = weighted / share(weight_total);
    } else {
      out.ce = weighted / class_weights.index_select(0, target_classes.flatten()).sum();
    }
  }

  torch::Tensor predicted = boxes.index({image_index, query_index}).view({-1, 4});
  torch::Tensor wanted = padded.boxes.index_select(0, index[2]);
  out.bbox = (predicted - wanted).abs().sum() / box_count;
  out.giou = (1 - generalized_box_iou_aligned(cxcywh_to_xyxy(predicted), cxcywh_to_xyxy(wanted))).sum() / box_count;
  return out;
}

}  // namespace genbox::detection
