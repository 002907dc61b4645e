// `<exp> export RUN --safetensors FILE`: a run's weights for PyTorch, as safetensors files whose
// tensor names are the model's state-dict names (parameters, then buffers), the names of the
// PyTorch reference models in bench/reference/, so `model.load_state_dict(load_file(FILE))`
// loads them strictly. FILE holds the trained weights; when the checkpoint has EMA weights they
// go to a second file beside it (ema_safetensors_path), which loads the same way, as PyTorch
// training scripts keep their EMA copies. Both carry the run's facts in __metadata__.
#pragma once

#include <torch/nn/module.h>

#include <filesystem>
#include <string>
#include <vector>

#include "base/cli.hpp"
#include "common/training.hpp"

namespace genbox {

// The `export RUN_DIR --safetensors FILE` command, as every program lists it.
CommandSpec export_command();

// "<FILE without .safetensors>.ema.safetensors": nice.safetensors -> nice.ema.safetensors.
std::filesystem::path ema_safetensors_path(const std::filesystem::path& file);

// Reads the opened run's checkpoint into `model` (built as sample and eval build it) and writes
// `file`, and its EMA sibling when there are EMA weights; returns the files written. Metadata:
// format "pt" (what Hugging Face's loaders look for), experiment, run, checkpoint, step,
// weights ("model" or "ema"), genbox_commit (the commit the run was trained from, meta.json's
// git_commit) and config_toml (the run's config.toml, from which the model's options follow).
std::vector<std::filesystem::path> export_safetensors(OpenedRun& opened, torch::nn::Module& model,
                                                      const std::string& experiment, const std::filesystem::path& file);

}  // namespace genbox
