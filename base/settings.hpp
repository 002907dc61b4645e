// The config sections every experiment shares. Experiments set their own defaults on these
// structs before describing them (Schema takes the current value as the default).
#pragma once

#include <cstdint>
#include <string>

#include "base/config.hpp"

namespace genbox {

struct RunSettings {
  std::string name = "default";
  int64_t seed = 0;
  std::string out_dir = "outputs";
};

struct DeviceSettings {
  std::string device = "auto";
  std::string precision = "fp32";
  int64_t threads = 0;
};

struct TrainSettings {
  int64_t steps = 1000;
  int64_t batch_size = 128;
  int64_t accumulate_steps = 1;  // micro-batches per step (common/training.hpp)
  int64_t log_every = 50;
  int64_t eval_every = 500;
  int64_t sample_every = 500;
  int64_t checkpoint_every = 500;
  int64_t keep_checkpoints = 0;
};

struct OptimSettings {
  std::string name = "adamw";
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  std::string schedule = "constant";
  int64_t warmup_steps = 0;
  double min_lr_ratio = 0.0;
  double clip_grad_norm = 0.0;
  double ema_decay = 0.0;
  // Dynamic loss scaling under device.precision = fp16 (common/loss_scaler.hpp); PyTorch's defaults.
  double loss_scale = 65536.0;
  double loss_scale_growth = 2.0;
  double loss_scale_backoff = 0.5;
  int64_t loss_scale_growth_interval = 2000;
  int64_t loss_scale_max_skips = 25;  // non-finite steps in a row before the run stops (exit 4)
};

void describe(Schema& schema, RunSettings& run);
void describe(Schema& schema, DeviceSettings& device);
void describe(Schema& schema, TrainSettings& train);
void describe(Schema& schema, OptimSettings& optim);

}  // namespace genbox
