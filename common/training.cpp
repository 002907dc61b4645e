#include "common/training.hpp"

#include <fmt/format.h>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>

#include "base/errors.hpp"
#include "base/fsutil.hpp"
#include "base/signals.hpp"
#include "common/device.hpp"
#include "common/program.hpp"
#include "common/zip_integrity.hpp"

namespace genbox {

namespace {
int64_t env_step(const char* name) {
  const char* value = std::getenv(name);
  return value ? std::atoll(value) : -1;
}

int fault_rank() {
  const char* value = std::getenv("GENBOX_FAULT_RANK");
  return value ? std::atoi(value) : -1;
}

// FNV-1a over the bytes of every parameter and buffer, as 16 hex digits.
std::string weights_fingerprint(const torch::nn::Module& model) {
  uint64_t hash = 14695981039346656037ull;
  for (const auto& [name, tensor] : named_state(model)) {
    torch::Tensor host = tensor.detach().cpu().contiguous();
    const auto* bytes = static_cast<const unsigned char*>(host.data_ptr());
    for (size_t i = 0; i < host.nbytes(); ++i) hash = (hash ^ bytes[i]) * 1099511628211ull;
  }
  return fmt::format("{:016x}", hash);
}

// The config keys a resume changes, {key: [before, after]}. Keys that decide the model's shapes
// or the data it models cannot change: the checkpoint holds the run's own.
nlohmann::json resume_changes(const Schema& schema) {
  nlohmann::json changed = nlohmann::json::object();
  for (const Schema::Change& change : schema.changes()) {
    if (change.key.rfind("model.", 0) == 0 || change.key == "data.dataset")
      throw ConfigError(
          fmt::format("{} cannot change on --resume ({} -> {}): the checkpoint holds the run's model "
                      "and data; start a new run instead",
                      change.key, change.before, change.after));
    changed[change.key] = {change.before, change.after};
  }
  return changed;
}

// The newest intact checkpoint: last.pt, or when it is damaged the newest intact numbered one,
// with its path, its bytes and, when it is not last.pt, why last.pt was passed over. Every byte
// is verified before one is used (common/zip_integrity.hpp).
struct IntactCheckpoint {
  std::string path, bytes, fallback_reason;
};

IntactCheckpoint intact_checkpoint(const std::filesystem::path& dir) {
  // The resume's next save renames a new last.pt over this one, which fails on a directory.
  std::error_code error;
  if (std::filesystem::is_directory(dir / "last.pt", error))
    throw DataError(fmt::format("{}: is a directory, not a file; the resume would write it: move it away first",
                                (dir / "last.pt").string()));
  std::vector<std::filesystem::path> candidates = {dir / "last.pt"};
  std::vector<std::filesystem::path> numbered;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error))
    if (entry.path().filename().string().rfind("step_", 0) == 0 && entry.path().extension() == ".pt")
      numbered.push_back(entry.path());
  std::sort(numbered.rbegin(), numbered.rend());
  candidates.insert(candidates.end(), numbered.begin(), numbered.end());
  std::string first_failure;
  for (const auto& path : candidates) {
    if (!std::filesystem::exists(path)) continue;
    try {
      std::string bytes = read_file(path);
      verify_zip(bytes, path.string());
      return {path.string(), std::move(bytes), first_failure};
    } catch (const DataError& e) {
      if (first_failure.empty()) first_failure = e.what();
    }
  }
  if (!first_failure.empty()) throw DataError(first_failure + " (and no intact numbered checkpoint to fall back on)");
  throw DataError(fmt::format("{}: no checkpoint to resume from", (dir / "last.pt").string()));
}

bool improves(double metric, double best, Better better) {
  if (std::isnan(metric)) return false;
  if (std::isnan(best)) return true;
  return better == Better::kLower ? metric < best : metric > best;
}
}  // namespace

TrainingRun::TrainingRun(const RunSpec& spec, World& world, torch::nn::Module& model,
                         torch::optim::Optimizer& optimizer, Ema* ema, BatchSampler& sampler)
    : spec_(spec),
      world_(world),
      model_(model),
      optimizer_(optimizer),
      ema_(ema),
      sampler_(sampler),
      parameters_(model.parameters()),
      progress_(0, spec.train.steps),
      fault_step_(nan_fault_step()),
      fault_rank_(fault_rank()),
      weights_fault_step_(env_step("GENBOX_FAULT_NAN_WEIGHTS_AT_STEP")),
      inf_grads_fault_step_(env_step("GENBOX_FAULT_INF_GRADS_AT_STEP")) {
  if (const char* value = std::getenv("GENBOX_FAULT_INF_GRADS_AT_STEP"))
    inf_grads_fault_tries_ = std::strchr(value, ':') ? std::atoll(std::strchr(value, ':') + 1) : 1;
  const int64_t local_batch = world.local_batch(spec.train.batch_size, "train.batch_size");
  if (local_batch % spec.train.accumulate_steps != 0)
    throw ConfigError(fmt::format(
        "train.accumulate_steps = {} must divide each process's batch of {} (train.batch_size = {} over {} processes)",
        spec.train.accumulate_steps, local_batch, spec.train.batch_size, world.size()));
  const CommandLine& cli = *spec.cli;
  resumed_ = !cli.resume_dir.empty();
  nlohmann::json changed = nlohmann::json::object();
  std::string resumed_from, fallback_note;
  if (resumed_) {
    // Everything is checked before anything is written: a resume that fails leaves the run as
    // it was. Rank 0 reads the checkpoint and sends its bytes, so other machines need no copy.
    changed = resume_changes(*spec.schema);
    std::optional<Run> opened;
    std::string bytes;
    if (world.is_main()) {
      opened.emplace(Run::open(cli.resume_dir));
      opened->lock();
      IntactCheckpoint intact = intact_checkpoint(opened->checkpoints_dir());
      if (!intact.fallback_reason.empty())
        fallback_note =
            fmt::format("{}; resuming from {}, the newest intact checkpoint", intact.fallback_reason, intact.path);
      resumed_from = intact.path;
      bytes = std::move(intact.bytes);
    }
    bytes = world.broadcast_bytes(bytes);
    state_ =
        load_checkpoint_bytes(bytes, resumed_from.empty() ? "last.pt" : resumed_from, model, ema, &optimizer, true);
    sampler.set_position(state_.sampler_position);
    if (world.is_main()) {
      run_ = std::move(opened);
      run_->remove_stale_temporaries();
      write_file_atomic(run_->dir() / "config.toml", spec.schema->to_toml(true));
      run_->mark_resumed(cli.text, changed);
    }
  } else if (world.is_main()) {
    run_.emplace(Run::create(spec.run.out_dir, spec.experiment, spec.run.name, spec.schema->to_toml(true), cli.text));
    run_->lock();
  }
  world.broadcast_module(model);
  if (ema) {
    std::vector<torch::Tensor> averages;
    for (auto& [name, tensor] : ema->named_tensors()) averages.push_back(tensor);
    world.broadcast(averages);
  }
  averager_ = std::make_unique<GradientAverager>(world, parameters_, spec.distributed.bucket_mb << 20);
  if (spec.precision == "fp16") {
    const OptimSettings& o = spec.optim;
    scaler_ = std::make_unique<LossScaler>(
        LossScalingOptions{o.loss_scale, o.loss_scale_growth, o.loss_scale_backoff, o.loss_scale_growth_interval},
        spec.device);
    if (!state_.loss_scaler.empty()) scaler_->load_state(state_.loss_scaler);
  }
  checkpoints_ = std::make_unique<CheckpointKeeper>(run_ ? run_->checkpoints_dir() : std::filesystem::path(),
                                                    spec.train.keep_checkpoints);
  progress_ = Progress(state_.step, spec.train.steps);

  std::vector<std::string> devices = world.gather_strings(spec.device.str());
  if (run_) {
    nlohmann::json meta = spec.meta;
    meta.update({{"torch_version", torch_version()},
                 {"device", spec.device.str()},
                 {"threads", torch::get_num_threads()},
                 {"seed", spec.run.seed},
                 {"world_size", world.size()},
                 {"backend", world.backend_name()},
                 {"rank_devices", devices}});
    run_->meta().update(meta);
    run_->write_meta();
    log(fmt::format(
        "run {} | device {} | {} threads{}", run_->dir().string(), spec.device.str(), torch::get_num_threads(),
        world.distributed() ? fmt::format(" | {} processes over {}", world.size(), world.backend_name()) : ""));
    if (!fallback_note.empty()) log(fallback_note);
    if (std::string note = precision_speed_note(spec.precision, spec.device); !note.empty()) log(note);
    if (resumed_) log(fmt::format("resumed at step {} from {}", state_.step, resumed_from));
    for (const auto& [key, values] : changed.items())
      log(fmt::format("the resume changes {}: {} -> {}", key, values[0].get<std::string>(),
                      values[1].get<std::string>()));
    // Whatever ends the process from here on leaves the run marked failed, with the reason.
    on_fatal_error([this](const std::string& what) {
      run_->meta()["failure"] = what;
      write_status("failed");
    });
  }
  install_stop_handlers();
}

TrainingRun::~TrainingRun() {
  on_fatal_error(nullptr);
  // Leaving by an exception (a lost process, a full disk) must not leave the run "running".
  if (!run_ || closed_ || std::uncaught_exceptions() == 0) return;
  mark_failed("stopped by an error; the program printed it on stderr");
}

bool TrainingRun::due(int64_t every) const {
  return stepped_ && (state_.step == spec_.train.steps || (every > 0 && state_.step % every == 0));
}

std::filesystem::path TrainingRun::samples_dir() const { return run_ ? run_->samples_dir() : std::filesystem::path(); }

double TrainingRun::elapsed_seconds() const { return run_ ? run_->elapsed_seconds() : 0.0; }

void TrainingRun::log(const std::string& line) {
  if (!run_) return;
  progress_.finish_line();
  run_->log(line);
}

double TrainingRun::begin_step() {
  lr_ = learning_rate_at(spec_.optim, state_.step, spec_.train.steps);
  set_learning_rate(optimizer_, lr_);
  optimizer_.zero_grad();
  loss_sum_ = torch::Tensor();
  micro_batches_done_ = 0;
  return lr_;
}

torch::Tensor TrainingRun::micro_batch(const torch::Tensor& local, int64_t m) const {
  const int64_t rows = local.size(0) / micro_batches();
  return local.narrow(0, m * rows, rows);
}

double TrainingRun::read_loss(bool failed) {
  double value = failed || !loss_sum_.defined() ? std::numeric_limits<double>::quiet_NaN()
                                                : loss_sum_.item<double>() / double(micro_batches());
  if (state_.step + 1 == fault_step_ && (fault_rank_ < 0 || fault_rank_ == world_.rank()))
    value = std::numeric_limits<double>::quiet_NaN();
  const int signal = stop_signal();
  const bool finite = std::isfinite(value);
  // One collective carries the loss and every rank's reasons to stop.
  std::vector<double> agreed = world_.sum({finite ? value : 0.0, finite ? 0.0 : 1.0, signal == SIGINT ? 1.0 : 0.0,
                                           signal != 0 && signal != SIGINT ? 1.0 : 0.0});
  agreed_signal_ = agreed[3] > 0 ? SIGTERM : agreed[2] > 0 ? SIGINT : 0;
  if (agreed[1] > 0) return finite ? std::numeric_limits<double>::quiet_NaN() : value;
  return agreed[0] / double(world_.size());
}

int TrainingRun::stop_non_finite(double loss, const std::string& detail) {
  if (run_) {
    const bool saved = std::filesystem::exists(checkpoints_->last());
    log(fmt::format("non-finite loss ({}{}) at step {}{}; stopping. {}", loss, detail.empty() ? "" : ": " + detail,
                    state_.step + 1, world_.distributed() ? " on some rank" : "",
                    saved ? "The last good checkpoint is " + checkpoints_->last().string()
                          : std::string("No checkpoint was saved before it")));
    run_->meta()["failure"] = fmt::format("non-finite loss at step {}", state_.step + 1);
    write_status("failed");
  }
  // No rank leaves before rank 0 has written the failure: a launcher stops the others when one exits.
  world_.barrier();
  return kExitNonFinite;
}

void TrainingRun::backward(const torch::Tensor& loss) {
  loss_sum_ = loss_sum_.defined() ? loss_sum_ + loss.detach() : loss.detach();
  // Only the last micro-batch's backward overlaps the all-reduce; the others just accumulate.
  averager_->accumulate_only(++micro_batches_done_ < micro_batches());
  // The micro-batches' gradients add up to the mean loss's: each backpropagates its share.
  const torch::Tensor share = micro_batches() > 1 ? loss / double(micro_batches()) : loss;
  (scaler_ ? scaler_->scale(share) : share).backward();
}

double TrainingRun::finish_step() {
  averager_->finish();
  if (scaler_) {
    if (state_.step + 1 == inf_grads_fault_step_ && inf_grads_fault_tries_ > 0) {
      // Test hook: an overflowing gradient, as an fp16 backward with too large a scale makes.
      --inf_grads_fault_tries_;
      torch::NoGradGuard no_grad;
      parameters_.front().mutable_grad().view(-1)[0] = std::numeric_limits<float>::infinity();
    }
    // Every rank holds the same averaged gradients, so every rank skips alike.
    stepped_ = scaler_->unscale(parameters_);
    scaler_->update();
    if (!stepped_) {
      grad_norm_ = std::numeric_limits<double>::quiet_NaN();
      if (scaler_->skipped_in_a_row() >= spec_.optim.loss_scale_max_skips) {
        const std::string message =
            fmt::format("fp16: {} steps in a row had non-finite gradients (loss scale now {:g}); stopping at step {}",
                        scaler_->skipped_in_a_row(), scaler_->current_scale(), state_.step);
        if (run_) {
          run_->meta()["failure"] = message;
          write_status("failed");
          log(message);
        }
        throw NonFiniteError(message);
      }
      return grad_norm_;
    }
  }
  grad_norm_ = clip_grad_norm(parameters_, spec_.optim.clip_grad_norm);
  optimizer_.step();
  if (state_.step + 1 == weights_fault_step_) {
    // Test hook (GENBOX_FAULT_NAN_WEIGHTS_AT_STEP): a step whose update leaves a weight NaN
    // while its loss was finite, as a real divergence can.
    torch::NoGradGuard no_grad;
    parameters_.front().view(-1)[0] = std::numeric_limits<float>::quiet_NaN();
  }
  if (ema_) ema_->update(model_);
  state_.step += 1;
  state_.sampler_position = sampler_.position();
  if (run_) run_->meta()["step"] = state_.step;
  return grad_norm_;
}

void TrainingRun::show_progress(const std::string& summary) {
  if (run_)
    progress_.update(state_.step, scaler_ ? fmt::format("{} | scale {:g}, {} skipped", summary,
                                                        scaler_->current_scale(), scaler_->skipped())
                                          : summary);
}

void TrainingRun::log_train(nlohmann::json values, const std::string& summary) {
  // Every rank's figures count: averaged in one collective.
  std::vector<double> numbers;
  for (auto& [key, value] : values.items())
    if (value.is_number()) numbers.push_back(value.get<double>());
  numbers = world_.sum(numbers);
  size_t i = 0;
  for (auto& [key, value] : values.items())
    if (value.is_number()) value = numbers[i++] / double(world_.size());
  values["lr"] = lr_;
  values["grad_norm"] = grad_norm_;
  if (scaler_) {
    values["loss_scale"] = scaler_->current_scale();
    values["skipped_steps"] = scaler_->skipped();
  }
  if (!run_) return;
  try {
    run_->append_metrics(state_.step, "train", values);
    run_->write_meta();  // the heartbeat that tells a live run from a dead one
  } catch (const DataError& e) {
    mark_failed(e.what());
    throw;
  }
  run_->log(progress_.line(state_.step, summary), !progress_.interactive());
}

bool TrainingRun::record_eval(const nlohmann::json& values, double metric, Better better, const std::string& summary) {
  bool improved = false;
  if (run_) {
    run_->append_metrics(state_.step, "eval", values);
    improved = improves(metric, state_.best_metric, better);
    if (improved) state_.best_metric = metric;
    save_checkpoint();
    if (improved) checkpoints_->mark_best();
    log(fmt::format("step {} | {}{}", state_.step, summary, improved ? " (best)" : ""));
  }
  // The others wait while rank 0 evaluates and writes.
  world_.barrier();
  return improved;
}

void TrainingRun::save_checkpoint() {
  saved_at_ = state_.step;
  // Weights an optimizer step made non-finite are never kept as a good checkpoint. Every rank
  // holds the same weights, so every rank stops here.
  for (const auto& [name, tensor] : named_state(model_)) {
    if (!tensor.is_floating_point() || torch::isfinite(tensor).all().item<bool>()) continue;
    std::string kept = run_ && std::filesystem::exists(checkpoints_->last())
                           ? "the last good checkpoint is " + checkpoints_->last().string()
                           : std::string("no checkpoint was saved before");
    std::string message =
        fmt::format("weight '{}' is not finite after step {}; not saved: {}", name, state_.step, kept);
    if (run_) {
      run_->meta()["failure"] = message;
      write_status("failed");
      log(message);
    }
    throw NonFiniteError(message);
  }
  if (!run_) return;
  try {
    if (scaler_) state_.loss_scaler = scaler_->state();
    checkpoints_->save(model_, ema_, &optimizer_, state_);
    run_->write_meta();
  } catch (const DataError& e) {
    mark_failed(e.what());
    throw;
  }
}

void TrainingRun::mark_failed(const std::string& reason) {
  // Best effort: the error may be the disk that meta.json lives on.
  try {
    run_->meta()["failure"] = reason;
    write_status("failed");
  } catch (const std::exception&) {
    closed_ = true;
  }
}

std::optional<int> TrainingRun::stop_requested() {
  if (agreed_signal_ == 0) return std::nullopt;
  if (saved_at_ != state_.step) save_checkpoint();
  if (run_) {
    write_status("interrupted");
    log(fmt::format("interrupted by signal {} at step {}; resume with: {} train --resume {}", agreed_signal_,
                    state_.step, spec_.experiment, run_->dir().string()));
  }
  world_.barrier();
  return agreed_signal_ == SIGINT ? kExitSigint : kExitSigterm;
}

int TrainingRun::finish(const std::string& summary) {
  // Every rank's weights, fingerprinted, so that a divergence between ranks shows in meta.json.
  std::vector<std::string> fingerprints = world_.gather_strings(weights_fingerprint(model_));
  if (run_) {
    if (world_.distributed()) run_->meta()["rank_weight_fingerprints"] = fingerprints;
    write_status("finished");
    log(fmt::format("finished {} steps in {} | {}", state_.step, format_duration(run_->elapsed_seconds()), summary));
  }
  world_.barrier();
  return kExitOk;
}

void TrainingRun::write_status(const std::string& status) {
  closed_ = true;
  progress_.finish_line();
  run_->set_status(status, state_.step);
}

EmaWeights::EmaWeights(Ema* ema, torch::nn::Module& model) : ema_(ema), model_(model) {
  if (ema_) ema_->swap_into(model_);
}

EmaWeights::~EmaWeights() {
  if (ema_) ema_->swap_into(model_);
}

OpenedRun open_run(const std::string& dir, const std::string& checkpoint_name) {
  OpenedRun opened{Run::open(dir), {}};
  opened.checkpoint = opened.run.checkpoints_dir() / (checkpoint_name + ".pt");
  if (!std::filesystem::exists(opened.checkpoint)) opened.checkpoint = opened.run.checkpoints_dir() / "last.pt";
  return opened;
}

void load_run_weights(const OpenedRun& opened, torch::nn::Module& model, bool prefer_ema) {
  bool ema = load_weights(opened.checkpoint, model, prefer_ema);
  fmt::print("loaded {}{}\n", opened.checkpoint.string(), ema ? " (EMA weights)" : "");
}

}  // namespace genbox
