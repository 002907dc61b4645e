#include "detection/box_ops.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <stdexcept>

namespace genbox::detection {

namespace {
// The smallest positive area a union or enclosing box is divided by, so that zero-area boxes
// give finite ratios; far below any real box's area in pixels or normalised units.
constexpr double kMinArea = 1e-12;

void check_corner_boxes(const torch::Tensor& boxes, const char* which) {
  if (boxes.dim() != 2 || boxes.size(1) != 4)
    throw std::invalid_argument(fmt::format("generalized IoU expects [N, 4] boxes, got {} for the {} set",
                                            fmt::join(boxes.sizes(), "x"), which));
  torch::Tensor degenerate =
      (boxes.select(1, 2) < boxes.select(1, 0)).logical_or(boxes.select(1, 3) < boxes.select(1, 1));
  if (!degenerate.any().item<bool>()) return;
  int64_t index = degenerate.nonzero()[0][0].item<int64_t>();
  torch::Tensor box = boxes[index].to(torch::kCPU, torch::kDouble);
  throw std::invalid_argument(fmt::format(
      "generalized IoU got a degenerate box: box {} of the {} set is (x1={}, y1={}, x2={}, y2={}), "
      "which needs x2 >= x1 and y2 >= y1",
      index, which, box[0].item<double>(), box[1].item<double>(), box[2].item<double>(), box[3].item<double>()));
}

struct Overlap {
  torch::Tensor intersection, union_area;
};

// a and b broadcast against each other: [N, 1, 4] with [1, M, 4] for pairs, or [N, 4] twice.
Overlap overlap(const torch::Tensor& a, const torch::Tensor& b) {
  torch::Tensor top_left = torch::max(a.narrow(-1, 0, 2), b.narrow(-1, 0, 2));
  torch::Tensor bottom_right = torch::min(a.narrow(-1, 2, 2), b.narrow(-1, 2, 2));
  torch::Tensor sides = (bottom_right - top_left).clamp_min(0);
  torch::Tensor intersection = sides.select(-1, 0) * sides.select(-1, 1);
  return {intersection, box_area(a) + box_area(b) - intersection};
}

torch::Tensor generalized(const torch::Tensor& a, const torch::Tensor& b) {
  Overlap o = overlap(a, b);
  torch::Tensor iou = o.intersection / o.union_area.clamp_min(kMinArea);
  torch::Tensor top_left = torch::min(a.narrow(-1, 0, 2), b.narrow(-1, 0, 2));
  torch::Tensor bottom_right = torch::max(a.narrow(-1, 2, 2), b.narrow(-1, 2, 2));
  torch::Tensor sides = bottom_right - top_left;
  torch::Tensor enclosing = (sides.select(-1, 0) * sides.select(-1, 1)).clamp_min(kMinArea);
  return iou - (enclosing - o.union_area) / enclosing;
}
}  // namespace

torch::Tensor cxcywh_to_xyxy(const torch::Tensor& boxes) {
  auto c = boxes.unbind(-1);
  return torch::stack({c[0] - 0.5 * c[2], c[1] - 0.5 * c[3], c[0] + 0.5 * c[2], c[1] + 0.5 * c[3]}, -1);
}

torch::Tensor xyxy_to_cxcywh(const torch::Tensor& boxes) {
  auto c = boxes.unbind(-1);
  return torch::stack({(c[0] + c[2]) / 2, (c[1] + c[3]) / 2, c[2] - c[0], c[3] - c[1]}, -1);
}

torch::Tensor box_area(const torch::Tensor& boxes) {
  return (boxes.select(-1, 2) - boxes.select(-1, 0)) * (boxes.select(-1, 3) - boxes.select(-1, 1));
}

torch::Tensor box_iou(const torch::Tensor& a, const torch::Tensor& b) {
  Overlap o = overlap(a.unsqueeze(1), b.unsqueeze(0));
  return o.intersection / o.union_area.clamp_min(kMinArea);
}

torch::Tensor generalized_box_iou(const torch::Tensor& a, const torch::Tensor& b) {
  check_corner_boxes(a, "first");
  check_corner_boxes(b, "second");
  return generalized(a.unsqueeze(1), b.unsqueeze(0));
}

torch::Tensor generalized_box_iou_batched(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.dim() != 3 || b.dim() != 3 || a.size(0) != b.size(0))
    throw std::invalid_argument(fmt::format("batched generalized IoU expects [B, N, 4] and [B, M, 4], got {} and {}",
                                            fmt::join(a.sizes(), "x"), fmt::join(b.sizes(), "x")));
  check_corner_boxes(a.reshape({-1, 4}), "first");
  check_corner_boxes(b.reshape({-1, 4}), "second");
  return generalized(a.unsqueeze(2), b.unsqueeze(1));
}

torch::Tensor generalized_box_iou_aligned(const torch::Tensor& a, const torch::Tensor& b) {
  check_corner_boxes(a, "first");
  check_corner_boxes(b, "second");
  if (a.size(0) != b.size(0))
    throw std::invalid_argument(
        fmt::format("aligned generalized IoU needs as many boxes on both sides, got {} and {}", a.size(0), b.size(0)));
  return generalized(a, b);
}

}  // namespace genbox::detection
