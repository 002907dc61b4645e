// Dynamic loss scaling for fp16 training (Micikevicius et al. 2018, "Mixed Precision Training"),
// as torch.amp.GradScaler does it: the loss is multiplied by a scale so that small gradients
// survive fp16; the gradients are divided by it once, before clipping; a step whose gradients are
// not all finite is skipped and the scale multiplied by the backoff factor; after growth_interval
// clean steps in a row it is multiplied by the growth factor (never past float's largest value).
// ATen's own kernels do the unscaling and the update, on the CPU and on CUDA.
#pragma once

#include <c10/core/Device.h>
#include <torch/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace genbox {

struct LossScalingOptions {  // PyTorch's defaults
  double init_scale = 65536.0;
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
};

class LossScaler {
 public:
  LossScaler(const LossScalingOptions& options, c10::Device device);
  // loss * scale, for backward.
  torch::Tensor scale(const torch::Tensor& loss) const;
  // Divides the parameters' gradients (fp32, on the scaler's device; undefined ones skipped) by
  // the scale in place, by 1 / scale computed in double and rounded to float as GradScaler does;
  // returns whether every one was finite. Call once per step, after any all-reduce.
  bool unscale(const std::vector<torch::Tensor>& parameters);
  // After unscale: backs off (and counts a skipped step) or counts a clean step and maybe grows.
  void update();
  double current_scale() const;
  int64_t growth_tracker() const;  // clean steps since the scale last changed
  int64_t skipped_in_a_row() const { return skipped_in_a_row_; }
  int64_t skipped() const { return skipped_; }
  // For checkpoints: "scale" (float32), "growth_tracker" (int32), "skipped", "skipped_in_a_row" (int64).
  std::map<std::string, torch::Tensor> state() const;
  void load_state(const std::map<std::string, torch::Tensor>& state);

 private:
  LossScalingOptions options_;
  torch::Tensor scale_, growth_tracker_, found_inf_;
  int64_t skipped_ = 0, skipped_in_a_row_ = 0;
};

}  // namespace genbox
