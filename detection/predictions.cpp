#include "detection/predictions.hpp"

#include <torch/torch.h>

#include <algorithm>

#include "detection/box_ops.hpp"

namespace genbox::detection {

bool DetrOutput::finite() const {
  torch::Tensor all = torch::ones({}, torch::kBool);
  for (size_t i = 0; i < logits.size(); ++i)
    all = all.to(logits[i].device()) & torch::isfinite(logits[i]).all() & torch::isfinite(boxes[i]).all();
  return all.item<bool>();
}

std::vector<Detections> decode_detections(const torch::Tensor& logits, const torch::Tensor& boxes,
                                          const torch::Tensor& sizes, bool focal, int64_t max_detections) {
  torch::NoGradGuard no_grad;
  const int64_t classes = logits.size(2) - 1;
  torch::Tensor class_logits = logits.detach().to(torch::kCPU, torch::kFloat);
  torch::Tensor pixel_boxes = cxcywh_to_xyxy(boxes.detach().to(torch::kCPU, torch::kFloat));
  torch::Tensor hw = sizes.to(torch::kCPU, torch::kFloat);
  pixel_boxes =
      pixel_boxes * torch::stack({hw.select(1, 1), hw.select(1, 0), hw.select(1, 1), hw.select(1, 0)}, 1).unsqueeze(1);

  std::vector<Detections> result;
  for (int64_t b = 0; b < logits.size(0); ++b) {
    Detections d;
    if (focal) {
      torch::Tensor p = class_logits[b].narrow(1, 0, classes).sigmoid().flatten();
      auto best = p.topk(std::min<int64_t>(max_detections, p.size(0)));
      torch::Tensor index = std::get<1>(best);
      d.scores = std::get<0>(best);
      d.labels = index.remainder(classes);
      d.boxes = pixel_boxes[b].index_select(0, index.div(classes, "floor"));
    } else {
      auto best = class_logits[b].softmax(1).narrow(1, 0, classes).max(1);
      torch::Tensor order = torch::argsort(std::get<0>(best), /*stable=*/true, 0, /*descending=*/true)
                                .narrow(0, 0, std::min(max_detections, logits.size(1)));
      d.scores = std::get<0>(best).index_select(0, order);
      d.labels = std::get<1>(best).index_select(0, order);
      d.boxes = pixel_boxes[b].index_select(0, order);
    }
    result.push_back(d);
  }
  return result;
}

}  // namespace genbox::detection
