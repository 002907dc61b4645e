#include "base/settings.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <limits>

namespace genbox {

namespace {
// A value as it can be shown in one line: quoted, control and non-ASCII bytes as \xNN, cut at 60.
std::string printable(const std::string& value) {
  std::string out = "\"";
  for (char c : value.substr(0, 60)) {
    auto byte = static_cast<unsigned char>(c);
    out += byte >= 0x20 && byte < 0x7f && c != '"' ? std::string(1, c) : fmt::format("\\x{:02x}", byte);
  }
  return out + (value.size() > 60 ? "...\"" : "\"");
}

constexpr int64_t kMaxInt = std::numeric_limits<int64_t>::max();
}  // namespace

void describe(Schema& s, RunSettings& run) {
  s.add("run.name", run.name, "suffix of the run directory name");
  s.add("run.seed", run.seed, 0, kMaxInt, "seed for initialisation, batches and noise");
  s.add("run.out_dir", run.out_dir, "runs land in <out_dir>/<experiment>/<time>-<name>/");
  s.add_check([&run] {
    // The name becomes part of a directory name and of config.toml: a short, plain word.
    const bool plain = std::all_of(run.name.begin(), run.name.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || (c != 0 && std::strchr("._-+=@,", c));
    });
    if (run.name.empty() || run.name.size() > 100 || !plain)
      throw ConfigError(
          fmt::format("run.name = {} must be 1 to 100 letters, digits or . _ - + = @ , (it names the "
                      "run directory)",
                      printable(run.name)));
    std::error_code error;
    if (std::filesystem::exists(run.out_dir, error) && !std::filesystem::is_directory(run.out_dir, error))
      throw ConfigError(fmt::format("run.out_dir = {} is a file, not a directory", printable(run.out_dir)));
  });
}

void describe(Schema& s, DeviceSettings& device) {
  s.add("device.device", device.device, "\"auto\" (cuda if present), \"cpu\", \"cuda\" or \"cuda:N\"");
  s.add_choice("device.precision", device.precision, {"fp32", "bf16", "fp16"},
               "bf16/fp16 autocast matmuls, convolutions and attention on the CPU and CUDA; parameters, "
               "log-determinants, priors, timestep embeddings, matching and losses stay fp32; fp16 scales the loss "
               "(optim.loss_scale*)");
  s.add("device.threads", device.threads, 0, 1024, "CPU threads for torch; 0 keeps torch's choice");
}

void describe(Schema& s, TrainSettings& train) {
  s.add("train.steps", train.steps, 1, kMaxInt, "optimizer steps in the run");
  s.add("train.batch_size", train.batch_size, 1, kMaxInt, "examples per step (the global batch, over all processes)");
  s.add("train.accumulate_steps", train.accumulate_steps, 1, 4096,
        "micro-batches per step: each process's batch is split into this many, their gradients summed before "
        "one step");
  s.add("train.log_every", train.log_every, 1, kMaxInt, "steps between train metric lines");
  s.add("train.eval_every", train.eval_every, 0, kMaxInt, "steps between evaluations; 0: only at the end");
  s.add("train.sample_every", train.sample_every, 0, kMaxInt, "steps between sample grids; 0: only at the end");
  s.add("train.checkpoint_every", train.checkpoint_every, 0, kMaxInt,
        "steps between checkpoints (last.pt); 0: only at the end");
  s.add("train.keep_checkpoints", train.keep_checkpoints, 0, kMaxInt,
        "numbered checkpoints kept besides last.pt and best.pt");
}

void describe(Schema& s, OptimSettings& optim) {
  s.add_choice("optim.name", optim.name, {"adam", "adamw"},
               "adam couples weight decay to the gradient, adamw decouples it");
  s.add("optim.lr", optim.lr, 0.0, 10.0, "peak learning rate");
  s.add("optim.beta1", optim.beta1, 0.0, 0.999999, "Adam first-moment decay");
  s.add("optim.beta2", optim.beta2, 0.0, 0.999999, "Adam second-moment decay");
  s.add("optim.eps", optim.eps, 0.0, 1.0, "Adam denominator epsilon");
  s.add("optim.weight_decay", optim.weight_decay, 0.0, 10.0,
        "weight decay on weights (never on biases, norms or scales)");
  s.add_choice("optim.schedule", optim.schedule, {"constant", "cosine"}, "learning rate after warmup");
  s.add("optim.warmup_steps", optim.warmup_steps, 0, kMaxInt, "linear warmup from 0 to lr");
  s.add("optim.min_lr_ratio", optim.min_lr_ratio, 0.0, 1.0, "cosine ends at lr * min_lr_ratio");
  s.add("optim.clip_grad_norm", optim.clip_grad_norm, 0.0, 1e12, "clip the global gradient norm; 0: off");
  s.add("optim.ema_decay", optim.ema_decay, 0.0, 0.999999, "EMA of weights (with warmup); 0: off");
  s.add("optim.loss_scale", optim.loss_scale, 1.0, 3.0e38, "fp16: the loss scale to start from");
  s.add("optim.loss_scale_growth", optim.loss_scale_growth, 1.0, 1e6,
        "fp16: scale factor after loss_scale_growth_interval clean steps");
  s.add("optim.loss_scale_backoff", optim.loss_scale_backoff, 1e-6, 1.0,
        "fp16: scale factor after a step with non-finite gradients (the step is skipped)");
  s.add("optim.loss_scale_growth_interval", optim.loss_scale_growth_interval, 1, kMaxInt,
        "fp16: clean steps in a row before the scale grows");
  s.add("optim.loss_scale_max_skips", optim.loss_scale_max_skips, 1, kMaxInt,
        "fp16: skipped steps in a row after which the run stops (exit 4)");
}

}  // namespace genbox
