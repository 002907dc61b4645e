// The run contract every training program keeps, as verbs its loop calls in order (docs/DESIGN.md,
// "The run contract as verbs"): start or resume, begin a step, read the loss, stop on a
// non-finite one, finish the step, log, record an eval and keep the best checkpoint by its
// direction, save, hold EMA weights while evaluating, stop on a signal, finish. The loop itself
// stays in each program:
//
//   TrainingRun t(run_spec("nice", schema, cli, config, device, meta), world, model, *optimizer, ema.get(), sampler);
//   while (t.running()) {
//     ...global batch from t.sampler, world.shard it...
//     t.begin_step();
//     for (int64_t m = 0; m < t.micro_batches(); ++m)
//       t.backward(loss_of(t.micro_batch(local, m)));   // under fp16: times the loss scale
//     double loss = t.read_loss();
//     if (!std::isfinite(loss)) return t.stop_non_finite(loss);
//     t.finish_step();
//     t.show_progress(summary);
//     if (t.due(log_every)) t.log_train(values, summary);
//     if (t.due(eval_every)) { if (t.evaluates()) { EmaWeights ema(t); ... } t.record_eval(...); }
//     else if (t.due(checkpoint_every)) t.save_checkpoint();
//     if (auto code = t.stop_requested()) return *code;
//   }
//   return t.finish(...);
//
// Under torchrun every rank runs the same loop; only rank 0 writes. A stop (non-finite loss on
// any rank, a signal to any rank) is agreed in the one all-reduce read_loss makes, so every
// rank stops after the same step.
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "base/cli.hpp"
#include "base/config.hpp"
#include "base/progress.hpp"
#include "base/run.hpp"
#include "base/settings.hpp"
#include "common/checkpoint.hpp"
#include "common/data/batches.hpp"
#include "common/distributed.hpp"
#include "common/loss_scaler.hpp"
#include "common/optim.hpp"

namespace genbox {

// Which way an evaluation metric improves.
enum class Better { kLower, kHigher };

// What a training run is, from the program's config.
struct RunSpec {
  std::string experiment;          // "nice", "rf_dit", "detr": the run directory's parent
  const Schema* schema = nullptr;  // the resolved config, written as config.toml
  const CommandLine* cli = nullptr;
  RunSettings run;
  TrainSettings train;
  OptimSettings optim;
  DistributedSettings distributed;
  c10::Device device = c10::Device(c10::kCPU);
  std::string precision = "fp32";                  // device.precision: fp16 scales the loss (common/loss_scaler.hpp)
  nlohmann::json meta = nlohmann::json::object();  // experiment facts for meta.json
};

// The spec of a program's config: any struct with run, train, optim and distributed sections.
template <typename Config>
RunSpec run_spec(std::string experiment, const Schema& schema, const CommandLine& cli, const Config& c,
                 c10::Device device, nlohmann::json meta) {
  return RunSpec{std::move(experiment), &schema,        &cli, c.run, c.train, c.optim, c.distributed, device,
                 c.device.precision,    std::move(meta)};
}

class TrainingRun {
 public:
  // Creates the run directory (rank 0), or with --resume restores last.pt (model, EMA,
  // optimizer, sampler position, RNG) and only then rewrites config.toml and meta.json; puts
  // rank 0's weights on every rank; installs the SIGINT/SIGTERM handlers.
  TrainingRun(const RunSpec& spec, World& world, torch::nn::Module& model, torch::optim::Optimizer& optimizer, Ema* ema,
              BatchSampler& sampler);
  ~TrainingRun();

  bool resumed() const { return resumed_; }
  int64_t step() const { return state_.step; }
  bool running() const { return state_.step < spec_.train.steps; }
  // True at every `every` steps and at the last step.
  bool due(int64_t every) const;
  // Whether this process evaluates, samples and writes (rank 0).
  bool evaluates() const { return world_.is_main(); }
  World& world() { return world_; }
  BatchSampler& sampler() { return sampler_; }
  Ema* ema() { return ema_; }
  torch::nn::Module& model() { return model_; }
  // The run directory's samples/ (rank 0 only writes into it).
  std::filesystem::path samples_dir() const;
  // A line on stdout and in log.txt, from rank 0.
  void log(const std::string& line);

  // Sets the scheduled learning rate and zeroes the gradients; returns the learning rate.
  double begin_step();
  // Gradient accumulation (train.accumulate_steps): a step's slice of the global batch is split
  // into this many equal micro-batches, each backpropagated on its own (activations of one
  // micro-batch alive at a time); their gradients add up before the one all-reduce, unscaling
  // and optimizer step of finish_step. 1: the whole slice at once.
  int64_t micro_batches() const { return spec_.train.accumulate_steps; }
  // Micro-batch m of this rank's slice `local` (rows m * n / M up to (m + 1) * n / M).
  torch::Tensor micro_batch(const torch::Tensor& local, int64_t m) const;
  // Backpropagates one micro-batch's loss (its mean over its rows) divided by the number of
  // micro-batches, so that the gradients are those of the step's mean loss; under fp16 times
  // the loss scale. Keeps the loss's value for read_loss.
  void backward(const torch::Tensor& loss);
  // The step's loss (one host sync): the mean of its micro-batches' and over ranks, NaN when it
  // is not finite on some rank or `failed` (this rank could not compute its loss). The test hook
  // GENBOX_FAULT_NAN_AT_STEP makes it NaN at that step (on the rank in GENBOX_FAULT_RANK when
  // set). Also agrees on the stop signals seen so far.
  double read_loss(bool failed = false);
  // Marks the run failed, names the last good checkpoint; returns exit code 4.
  int stop_non_finite(double loss, const std::string& detail = "");
  // Averages gradients over ranks, clips, steps the optimizer and the EMA, counts the step;
  // returns the gradient norm before clipping. Under fp16 the gradients are unscaled first (once,
  // after the average); when some are not finite the step is skipped: optimizer, EMA, schedule
  // and counters untouched, due() false until a step is taken, the scale backed off, NaN
  // returned; after optim.loss_scale_max_skips skips in a row it throws NonFiniteError (exit 4).
  double finish_step();

  // Shows `summary` on the live progress line (a terminal only).
  void show_progress(const std::string& summary);
  // Appends `values` (numbers averaged over ranks, in one collective: every rank calls it at
  // the same steps) with lr and grad_norm to metrics.jsonl, and the line to log.txt.
  void log_train(nlohmann::json values, const std::string& summary);
  // Appends an eval line; saves a checkpoint; keeps it as best.pt when `metric` beats the best
  // so far in `better`'s direction. All ranks call it; rank 0's values count. Returns whether
  // the metric improved.
  bool record_eval(const nlohmann::json& values, double metric, Better better, const std::string& summary);
  void save_checkpoint();
  // After a signal reached any rank: saves a checkpoint (unless this step saved one), marks the
  // run interrupted and returns 130 or 143. Nothing otherwise.
  std::optional<int> stop_requested();
  // Marks the run finished; returns 0.
  int finish(const std::string& summary);
  double best_metric() const { return state_.best_metric; }
  double elapsed_seconds() const;

 private:
  void write_status(const std::string& status);
  void mark_failed(const std::string& reason);
  RunSpec spec_;
  World& world_;
  torch::nn::Module& model_;
  torch::optim::Optimizer& optimizer_;
  Ema* ema_;
  BatchSampler& sampler_;
  std::optional<Run> run_;
  std::unique_ptr<CheckpointKeeper> checkpoints_;
  std::unique_ptr<GradientAverager> averager_;
  std::unique_ptr<LossScaler> scaler_;  // fp16 only
  bool stepped_ = true;                 // the last finish_step took its step
  std::vector<torch::Tensor> parameters_;
  TrainingState state_;
  Progress progress_;
  bool resumed_ = false;
  bool closed_ = false;  // a final status is written
  int64_t fault_step_ = -1;
  int fault_rank_ = -1;
  int64_t weights_fault_step_ = -1;
  // Test hook GENBOX_FAULT_INF_GRADS_AT_STEP=k[:n]: fp16 gradients made infinite at step k, n tries.
  int64_t inf_grads_fault_step_ = -1, inf_grads_fault_tries_ = 0;
  int agreed_signal_ = 0;
  int64_t saved_at_ = -1;
  double lr_ = 0, grad_norm_ = 0;
  torch::Tensor loss_sum_;  // the step's micro-batch losses so far
  int64_t micro_batches_done_ = 0;
};

// While alive, the model holds the EMA weights (when there are some); the trained weights come
// back when it goes.
class EmaWeights {
 public:
  EmaWeights(Ema* ema, torch::nn::Module& model);
  explicit EmaWeights(TrainingRun& run) : EmaWeights(run.ema(), run.model()) {}
  ~EmaWeights();
  EmaWeights(const EmaWeights&) = delete;
  EmaWeights& operator=(const EmaWeights&) = delete;

 private:
  Ema* ema_;
  torch::nn::Module& model_;
};

// For sample, eval and the like on an existing run: the run, and the checkpoint to read
// (sample.checkpoint's name, falling back to last.pt when there is no such file).
struct OpenedRun {
  Run run;
  std::filesystem::path checkpoint;
};
OpenedRun open_run(const std::string& dir, const std::string& checkpoint_name);
// Loads that checkpoint's weights (EMA ones when asked and present) and says which it loaded.
void load_run_weights(const OpenedRun& opened, torch::nn::Module& model, bool prefer_ema);

}  // namespace genbox
