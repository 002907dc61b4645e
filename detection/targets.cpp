#include "detection/targets.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <stdexcept>

#include "detection/box_ops.hpp"

namespace genbox::detection {

Targets Targets::to(const torch::Device& device) const {
  Targets moved = *this;
  moved.labels = labels.to(device);
  moved.boxes = boxes.to(device);
  moved.boxes_xyxy = boxes_xyxy.to(device);
  moved.areas = areas.to(device);
  return moved;
}

Targets make_targets(const torch::Tensor& labels, const torch::Tensor& boxes_xyxy, int64_t height, int64_t width,
                     const torch::Tensor& areas) {
  if (labels.dim() != 1 || boxes_xyxy.dim() != 2 || boxes_xyxy.size(1) != 4 || boxes_xyxy.size(0) != labels.size(0))
    throw std::invalid_argument(fmt::format("targets need labels [n] and boxes [n, 4], got {} and {}",
                                            fmt::join(labels.sizes(), "x"), fmt::join(boxes_xyxy.sizes(), "x")));
  if (height <= 0 || width <= 0)
    throw std::invalid_argument(fmt::format("targets need a positive image size, got {} x {}", height, width));
  Targets t;
  t.labels = labels.to(torch::kLong);
  t.boxes_xyxy = boxes_xyxy.to(torch::kFloat);
  torch::Tensor size = torch::tensor(
      {static_cast<float>(width), static_cast<float>(height), static_cast<float>(width), static_cast<float>(height)},
      t.boxes_xyxy.options());
  t.boxes = xyxy_to_cxcywh(t.boxes_xyxy / size);
  t.areas = areas.defined() ? areas.to(torch::kFloat) : box_area(t.boxes_xyxy);
  t.height = height;
  t.width = width;
  return t;
}

}  // namespace genbox::detection
