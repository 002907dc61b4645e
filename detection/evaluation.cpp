#include "detection/evaluation.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>

namespace genbox::detection {

namespace {
// (height, width) [B, 2] of test images [begin, end) as their file has them: the normalised
// predictions times these are boxes in the file's pixels.
torch::Tensor file_sizes(const std::vector<Targets>& truth, int64_t begin, int64_t end) {
  torch::Tensor sizes = torch::empty({end - begin, 2}, torch::kLong);
  for (int64_t i = begin; i < end; ++i) {
    sizes[i - begin][0] = truth[i].height;
    sizes[i - begin][1] = truth[i].width;
  }
  return sizes;
}
}  // namespace

nlohmann::json Evaluation::json() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, value] : metrics.named()) j[name] = value;
  j["val_loss"] = loss;
  return j;
}

std::string Evaluation::summary() const {
  return fmt::format("AP {:.4f} | AP50 {:.4f} | AP75 {:.4f} | AR@100 {:.4f} | val loss {:.4f}", metrics.ap,
                     metrics.ap50, metrics.ap75, metrics.ar100, loss);
}

Evaluation evaluate_detr(Detr& model, const SetCriterion& criterion, const DetectionDataset& test,
                         const std::vector<Targets>& truth, int64_t num_classes, const EvaluationOptions& o,
                         const torch::Device& device) {
  torch::NoGradGuard no_grad;
  model->eval();
  Evaluation result;
  double loss_sum = 0;
  for (int64_t i = 0; i < test.size(); i += o.batch_size) {
    int64_t end = std::min(i + o.batch_size, test.size());
    DetectionBatch batch = collate_range(test, i, end, o.output_stride).to(device);
    DetrOutput output = forward_in_precision(model, batch.images, batch.padding_mask, o.precision);
    loss_sum += criterion(output.for_loss(o.aux), batch.targets).total.item<double>() * double(end - i);
    auto decode_into = [&](const torch::Tensor& sizes, std::vector<Detections>& into) {
      std::vector<Detections> d =
          decode_detections(output.final_logits(), output.final_boxes(), sizes, o.focal, o.max_detections);
      into.insert(into.end(), d.begin(), d.end());
    };
    decode_into(batch.sizes, result.drawn);
    decode_into(file_sizes(truth, i, end), result.detections);
  }
  model->train();
  result.metrics = evaluate_coco(result.detections, truth, num_classes);
  result.loss = loss_sum / double(test.size());
  return result;
}

std::string category_ap_table(const CocoCatalog& catalog, const std::vector<double>& ap_per_class) {
  size_t name_width = std::string("category").size();
  for (const std::string& name : catalog.category_names) name_width = std::max(name_width, name.size());
  std::string table = fmt::format("{:>6}  {:<{}}  {:>7}\n", "id", "category", name_width, "AP");
  for (size_t k = 0; k < ap_per_class.size(); ++k)
    table += fmt::format("{:>6}  {:<{}}  {:>7.4f}\n", catalog.category_ids[k], catalog.category_names[k], name_width,
                         ap_per_class[k]);
  return table;
}

nlohmann::json category_ap_json(const CocoCatalog& catalog, const std::vector<double>& ap_per_class) {
  nlohmann::json per_category = nlohmann::json::array();
  for (size_t k = 0; k < ap_per_class.size(); ++k)
    per_category.push_back(
        {{"id", catalog.category_ids[k]}, {"name", catalog.category_names[k]}, {"ap", ap_per_class[k]}});
  return per_category;
}

}  // namespace genbox::detection
