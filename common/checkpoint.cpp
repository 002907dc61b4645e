#include "common/checkpoint.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <ATen/CPUGeneratorImpl.h>
#include <sys/resource.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "base/errors.hpp"
#include "base/fsutil.hpp"
#include "common/zip_integrity.hpp"

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

// Reads `prefix`/name for each tensor into place, refusing any shape that does not fit. The
// bytes were verified whole before (common/zip_integrity.hpp).
void read_tensors(torch::serialize::InputArchive& archive, const std::string& prefix,
                  const std::vector<std::pair<std::string, torch::Tensor>>& targets,
                  const std::filesystem::path& path) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> stored_tensors;
  for (const auto& [name, target] : targets) {
    torch::Tensor stored;
    if (!archive.try_read(prefix + "/" + name, stored))
      throw DataError(
          fmt::format("{}: has no tensor '{}/{}'; it was saved from another model", path.string(), prefix, name));
    if (stored.sizes() != target.sizes())
      throw DataError(fmt::format("{}: tensor '{}/{}' has shape {} in the file but {} in the model", path.string(),
                                  prefix, name, fmt::join(stored.sizes(), "x"), fmt::join(target.sizes(), "x")));
    stored_tensors.push_back(stored);
  }
  for (size_t i = 0; i < targets.size(); ++i) targets[i].second.detach().copy_(stored_tensors[i]);
}

void write_tensors(torch::serialize::OutputArchive& archive, const std::string& prefix,
                   const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  for (const auto& [name, tensor] : tensors) archive.write(prefix + "/" + name, tensor.detach());
}

// From the file, or from `bytes` when given (a copy of the file that rank 0 broadcast).
// Runs a read of the checkpoint at `path`: whatever LibTorch throws on damaged bytes (c10::Error,
// the TorchScript importer's ErrorReport, ...) becomes one DataError naming the file.
template <typename Fn>
auto reading(const std::filesystem::path& path, Fn&& read) {
  try {
    return read();
  } catch (const DataError&) {
    throw;
  } catch (const std::exception& e) {
    const auto* torch_error = dynamic_cast<const c10::Error*>(&e);
    std::string why = torch_error ? torch_error->what_without_backtrace() : e.what();
    why.erase(0, why.find_first_not_of(" \n"));
    throw DataError(fmt::format("{}: not a readable checkpoint ({})", path.string(), why.substr(0, why.find('\n'))));
  }
}

// While alive, the process may map at most `extra` bytes more than it has mapped now.
class AddressSpaceCap {
 public:
  explicit AddressSpaceCap(uint64_t extra) {
    long pages = 0;
    if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(f, "%ld", &pages) != 1) pages = 0;
      std::fclose(f);
    }
    if (pages <= 0 || getrlimit(RLIMIT_AS, &previous_) != 0) return;
    rlimit capped = previous_;
    capped.rlim_cur = std::min<rlim_t>(previous_.rlim_cur, rlim_t(pages) * rlim_t(sysconf(_SC_PAGESIZE)) + extra);
    active_ = setrlimit(RLIMIT_AS, &capped) == 0;
  }
  ~AddressSpaceCap() {
    if (active_) setrlimit(RLIMIT_AS, &previous_);
  }
  AddressSpaceCap(const AddressSpaceCap&) = delete;
  AddressSpaceCap& operator=(const AddressSpaceCap&) = delete;

 private:
  rlimit previous_{};
  bool active_ = false;
};

torch::serialize::InputArchive open_archive(const std::filesystem::path& path, const std::string* bytes = nullptr) {
  if (!bytes && !std::filesystem::exists(path)) throw DataError(fmt::format("{}: no such checkpoint", path.string()));
  std::string read;
  if (!bytes) {
    read = read_file(path);
    bytes = &read;
  }
  // Every byte is checked before LibTorch parses any: a damaged file loads nothing.
  verify_zip(*bytes, path.string());
  torch::serialize::InputArchive archive;
  reading(path, [&] {
    // A damaged pickle inside can make LibTorch's unpickler allocate gigabytes it then fills; the
    // address space is capped while it parses, so that becomes a bad_alloc, then a DataError.
    AddressSpaceCap cap(512 * 1024 * 1024 + 16 * bytes->size());
    try {
      archive.load_from(bytes->data(), bytes->size());
    } catch (const std::bad_alloc&) {
      throw DataError(fmt::format("{}: not a readable checkpoint (it asks for far more memory than its {} bytes hold)",
                                  path.string(), bytes->size()));
    }
    return 0;
  });
  return archive;
}
}  // namespace

void save_checkpoint(const std::filesystem::path& path, const torch::nn::Module& model, Ema* ema,
                     torch::optim::Optimizer* optimizer, const TrainingState& state) {
  torch::serialize::OutputArchive archive;
  write_tensors(archive, "model", named_state(model));
  if (ema) {
    write_tensors(archive, "ema", ema->named_tensors());
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
  for (const auto& [key, value] : state.loss_scaler) archive.write("loss_scaler/" + key, value);
  auto gens = generators();
  for (size_t i = 0; i < gens.size(); ++i) archive.write(fmt::format("rng/{}", i), gens[i].get_state());

  // Serialised in memory, then written beside and renamed over: a killed or failed write never
  // leaves half a file, and a failed one (a full disk) leaves no temporary and names the reason.
  // (LibTorch's file writer, failing mid-file, throws again from its destructor.)
  std::string bytes;
  archive.save_to([&bytes](const void* data, size_t size) -> size_t {
    bytes.append(static_cast<const char*>(data), size);
    return size;
  });
  seal_zip(bytes);
  write_file_atomic(path, bytes);
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
  for (const char* key : {"scale", "growth_tracker", "skipped", "skipped_in_a_row"})
    if (torch::Tensor scaler_value; archive.try_read(std::string("loss_scaler/") + key, scaler_value))
      state.loss_scaler[key] = scaler_value;
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

namespace {
void copy_atomic(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::filesystem::path tmp = temporary_sibling(to);
  std::error_code error;
  std::filesystem::copy_file(from, tmp, std::filesystem::copy_options::overwrite_existing, error);
  if (!error) std::filesystem::rename(tmp, to, error);
  if (error) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw DataError(fmt::format("{}: cannot write: {}", to.string(), error.message()));
  }
}
}  // namespace

TrainingState load_checkpoint(const std::filesystem::path& path, torch::nn::Module& model, Ema* ema,
                              torch::optim::Optimizer* optimizer, bool restore_rng) {
  torch::serialize::InputArchive archive = open_archive(path);
  return reading(path, [&] { return restore(archive, path, model, ema, optimizer, restore_rng); });
}

TrainingState load_checkpoint_bytes(const std::string& bytes, const std::filesystem::path& path,
                                    torch::nn::Module& model, Ema* ema, torch::optim::Optimizer* optimizer,
                                    bool restore_rng) {
  torch::serialize::InputArchive archive = open_archive(path, &bytes);
  return reading(path, [&] { return restore(archive, path, model, ema, optimizer, restore_rng); });
}

bool load_weights(const std::filesystem::path& path, torch::nn::Module& model, bool prefer_ema) {
  torch::serialize::InputArchive archive = open_archive(path);
  auto state = named_state(model);
  bool use_ema = reading(path, [&] {
    torch::Tensor probe;
    bool has_ema = !state.empty() && archive.try_read("ema/" + state.front().first, probe);
    bool ema = prefer_ema && has_ema;
    read_tensors(archive, ema ? "ema" : "model", state, path);
    return ema;
  });
  for (const auto& [name, tensor] : state)
    if (tensor.is_floating_point() && !torch::isfinite(tensor).all().item<bool>())
      throw DataError(fmt::format("{}: weight '{}' is not finite; this checkpoint cannot be evaluated or sampled",
                                  path.string(), name));
  return use_ema;
}

void CheckpointKeeper::save(const torch::nn::Module& model, Ema* ema, torch::optim::Optimizer* optimizer,
                            const TrainingState& state) {
  save_checkpoint(last(), model, ema, optimizer, state);
  if (keep_ <= 0) return;
  copy_atomic(last(), dir_ / fmt::format("step_{:07d}.pt", state.step));
  std::vector<std::filesystem::path> kept;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    std::string name = entry.path().filename().string();
    if (name.rfind("step_", 0) == 0 && entry.path().extension() == ".pt") kept.push_back(entry.path());
  }
  std::sort(kept.begin(), kept.end());
  for (size_t i = 0; i + static_cast<size_t>(keep_) < kept.size(); ++i) std::filesystem::remove(kept[i]);
}

void CheckpointKeeper::mark_best() { copy_atomic(last(), best()); }

}  // namespace genbox
