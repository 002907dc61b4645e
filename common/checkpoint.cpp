#include "common/checkpoint.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>
#include <algorithm>

#include "base/errors.hpp"
#include "base/fsutil.hpp"

namespace genbox {

namespace {
void write_scalar(torch::serialize::OutputArchive& archive, const std::string& key, double value) {
  archive.write(key, torch::tensor(value, torch::kFloat64));
}

double read_scalar(torch::serialize::InputArchive& archive, const std::string& key) {
  torch::Tensor value;
  archive.read(key, value);
  return value.item<double>();
}

std::vector<at::Generator> generators() {
  std::vector<at::Generator> out = {at::detail::getDefaultCPUGenerator()};
  if (torch::cuda::is_available())
    for (int64_t i = 0; i < static_cast<int64_t>(torch::cuda::device_count()); ++i)
      out.push_back(at::globalContext().defaultGenerator(torch::Device(torch::kCUDA, i)));
  return out;
}

// Reads `prefix`/name for each tensor into place, refusing any shape that does not fit.
void read_tensors(torch::serialize::InputArchive& archive, const std::string& prefix,
                  const std::vector<std::pair<std::string, torch::Tensor>>& targets,
                  const std::filesystem::path& path) {
  torch::NoGradGuard no_grad;
  for (const auto& [name, target] : targets) {
    torch::Tensor stored;
    if (!archive.try_read(prefix + "/" + name, stored))
      throw DataError(
          fmt::format("{}: has no tensor '{}/{}'; it was saved from another model", path.string(), prefix, name));
    if (stored.sizes() != target.sizes())
      throw DataError(fmt::format("{}: tensor '{}/{}' has shape {} in the file but {} in the model", path.string(),
                                  prefix, name, fmt::join(stored.sizes(), "x"), fmt::join(target.sizes(), "x")));
    target.detach().copy_(stored);
  }
}

// From the file, or from `bytes` when given (a copy of the file that rank 0 broadcast).
torch::serialize::InputArchive open_archive(const std::filesystem::path& path, const std::string* bytes = nullptr) {
  if (!bytes && !std::filesystem::exists(path)) throw DataError(fmt::format("{}: no such checkpoint", path.string()));
  torch::serialize::InputArchive archive;
  try {
    if (bytes)
      archive.load_from(bytes->data(), bytes->size());
    else
      archive.load_from(path.string());
  } catch (const c10::Error& e) {
    std::string why = e.what_without_backtrace();
    throw DataError(fmt::format("{}: not a readable checkpoint ({})", path.string(), why.substr(0, why.find('\n'))));
  }
  return archive;
}
}  // namespace

void save_checkpoint(const std::filesystem::path& path, const torch::nn::Module& model, Ema* ema,
                     torch::optim::Optimizer* optimizer, const TrainingState& state) {
  torch::serialize::OutputArchive archive;
  for (const auto& [name, tensor] : named_state(model)) archive.write("model/" + name, tensor.detach());
  if (ema) {
    for (const auto& [name, tensor] : ema->named_tensors()) archive.write("ema/" + name, tensor);
    write_scalar(archive, "ema_updates", double(ema->updates()));
  }
  if (optimizer) {
    torch::serialize::OutputArchive optimizer_archive;
    optimizer->save(optimizer_archive);
    archive.write("optimizer", optimizer_archive);
  }
  archive.write("step", torch::tensor(state.step, torch::kInt64));
  archive.write("sampler_position", torch::tensor(state.sampler_position, torch::kInt64));
  write_scalar(archive, "best_metric", state.best_metric);
  auto gens = generators();
  for (size_t i = 0; i < gens.size(); ++i) archive.write(fmt::format("rng/{}", i), gens[i].get_state());

  std::filesystem::path tmp = temporary_sibling(path);
  archive.save_to(tmp.string());
  std::filesystem::rename(tmp, path);
}

namespace {
TrainingState restore(torch::serialize::InputArchive& archive, const std::filesystem::path& path,
                      torch::nn::Module& model, Ema* ema, torch::optim::Optimizer* optimizer, bool restore_rng) {
  read_tensors(archive, "model", named_state(model), path);
  if (ema) {
    read_tensors(archive, "ema", ema->named_tensors(), path);
    ema->set_updates(static_cast<int64_t>(read_scalar(archive, "ema_updates")));
  }
  if (optimizer) {
    torch::serialize::InputArchive optimizer_archive;
    if (!archive.try_read("optimizer", optimizer_archive))
      throw DataError(fmt::format("{}: holds no optimizer state to resume from", path.string()));
    optimizer->load(optimizer_archive);
  }
  TrainingState state;
  torch::Tensor value;
  archive.read("step", value);
  state.step = value.item<int64_t>();
  archive.read("sampler_position", value);
  state.sampler_position = value.item<int64_t>();
  state.best_metric = read_scalar(archive, "best_metric");
  if (restore_rng) {
    auto gens = generators();
    for (size_t i = 0; i < gens.size(); ++i) {
      torch::Tensor rng_state;
      if (archive.try_read(fmt::format("rng/{}", i), rng_state)) gens[i].set_state(rng_state);
    }
  }
  return state;
}
}  // namespace

TrainingState load_checkpoint(const std::filesystem::path& path, torch::nn::Module& model, Ema* ema,
                              torch::optim::Optimizer* optimizer, bool restore_rng) {
  torch::serialize::InputArchive archive = open_archive(path);
  return restore(archive, path, model, ema, optimizer, restore_rng);
}

TrainingState load_checkpoint_bytes(const std::string& bytes, const std::filesystem::path& path,
                                    torch::nn::Module& model, Ema* ema, torch::optim::Optimizer* optimizer,
                                    bool restore_rng) {
  torch::serialize::InputArchive archive = open_archive(path, &bytes);
  return restore(archive, path, model, ema, optimizer, restore_rng);
}

bool load_weights(const std::filesystem::path& path, torch::nn::Module& model, bool prefer_ema) {
  torch::serialize::InputArchive archive = open_archive(path);
  torch::Tensor probe;
  auto state = named_state(model);
  bool has_ema = !state.empty() && archive.try_read("ema/" + state.front().first, probe);
  bool use_ema = prefer_ema && has_ema;
  read_tensors(archive, use_ema ? "ema" : "model", state, path);
  return use_ema;
}

void CheckpointKeeper::save(const torch::nn::Module& model, Ema* ema, torch::optim::Optimizer* optimizer,
                            const TrainingState& state) {
  save_checkpoint(last(), model, ema, optimizer, state);
  if (keep_ <= 0) return;
  std::filesystem::path numbered = dir_ / fmt::format("step_{:07d}.pt", state.step);
  std::filesystem::path tmp = temporary_sibling(numbered);
  std::filesystem::copy_file(last(), tmp, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::rename(tmp, numbered);
  std::vector<std::filesystem::path> kept;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    std::string name = entry.path().filename().string();
    if (name.rfind("step_", 0) == 0 && entry.path().extension() == ".pt") kept.push_back(entry.path());
  }
  std::sort(kept.begin(), kept.end());
  for (size_t i = 0; i + static_cast<size_t>(keep_) < kept.size(); ++i) std::filesystem::remove(kept[i]);
}

void CheckpointKeeper::mark_best() {
  std::filesystem::path tmp = temporary_sibling(best());
  std::filesystem::copy_file(last(), tmp, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::rename(tmp, best());
}

}  // namespace genbox
