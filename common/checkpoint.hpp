// One checkpoint file holds everything a run needs to continue exactly: model, EMA, optimizer
// state, step, sampler position, best metric and RNG states. Written atomically and sealed with
// a CRC-32 of every byte; every byte is verified before any is used (common/zip_integrity.hpp).
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <filesystem>
#include <limits>
#include <map>

#include "common/optim.hpp"

namespace genbox {

struct TrainingState {
  int64_t step = 0;
  int64_t sampler_position = 0;
  double best_metric = std::numeric_limits<double>::quiet_NaN();  // NaN: no evaluation yet
  std::map<std::string, torch::Tensor> loss_scaler;               // fp16's LossScaler::state(); empty otherwise
};

void save_checkpoint(const std::filesystem::path& path, const torch::nn::Module& model, Ema* ema,
                     torch::optim::Optimizer* optimizer, const TrainingState& state);

// Restores what the file holds into the given objects (any may be null) and, with restore_rng,
// the CPU and CUDA generator states. Throws DataError naming the file on a damaged file (and the
// damaged entry) and the first tensor whose shape does not fit the model.
TrainingState load_checkpoint(const std::filesystem::path& path, torch::nn::Module& model, Ema* ema,
                              torch::optim::Optimizer* optimizer, bool restore_rng);

// The same from the file's bytes (what rank 0 read and broadcast); `path` names it in errors.
TrainingState load_checkpoint_bytes(const std::string& bytes, const std::filesystem::path& path,
                                    torch::nn::Module& model, Ema* ema, torch::optim::Optimizer* optimizer,
                                    bool restore_rng);

// Loads weights only, for sampling and evaluation: the EMA weights when the file has them and
// `prefer_ema` is set. Returns whether EMA weights were used.
bool load_weights(const std::filesystem::path& path, torch::nn::Module& model, bool prefer_ema);

// Keeps last.pt, best.pt and the newest `keep` numbered step_XXXXXXX.pt in a directory.
class CheckpointKeeper {
 public:
  CheckpointKeeper(std::filesystem::path dir, int64_t keep) : dir_(std::move(dir)), keep_(keep) {}
  std::filesystem::path last() const { return dir_ / "last.pt"; }
  std::filesystem::path best() const { return dir_ / "best.pt"; }
  // Saves last.pt, and the numbered copy when numbered copies are kept.
  void save(const torch::nn::Module& model, Ema* ema, torch::optim::Optimizer* optimizer, const TrainingState& state);
  // Copies last.pt to best.pt, atomically.
  void mark_best();

 private:
  std::filesystem::path dir_;
  int64_t keep_;
};

}  // namespace genbox
