#include "common/weights_export.hpp"

#include <fmt/format.h>

#include <map>

#include "base/fsutil.hpp"
#include "common/checkpoint.hpp"
#include "common/optim.hpp"
#include "common/safetensors.hpp"

namespace genbox {

CommandSpec export_command() {
  return {"export",
          true,
          {},
          "write the checkpoint's weights (and EMA weights) as safetensors for PyTorch",
          {{"safetensors", "the file for the weights; EMA weights go beside it as <name>.ema.safetensors"}}};
}

std::filesystem::path ema_safetensors_path(const std::filesystem::path& file) {
  const std::string name = file.filename().string(), extension = ".safetensors";
  const bool has_extension =
      name.size() > extension.size() && name.compare(name.size() - extension.size(), extension.size(), extension) == 0;
  const std::string stem = has_extension ? name.substr(0, name.size() - extension.size()) : name;
  return file.parent_path() / (stem + ".ema" + extension);
}

std::vector<std::filesystem::path> export_safetensors(OpenedRun& opened, torch::nn::Module& model,
                                                      const std::string& experiment,
                                                      const std::filesystem::path& file) {
  // The model's own weights and the step they are from, then the EMA weights when there are some:
  // load_weights prefers them and says whether it found them.
  const TrainingState state = load_checkpoint(opened.checkpoint, model, nullptr, nullptr, false);
  NamedTensors trained;
  for (const auto& [name, tensor] : named_state(model)) trained.emplace_back(name, tensor.detach().clone());
  const bool has_ema = load_weights(opened.checkpoint, model, true);

  const nlohmann::json& meta = opened.run.meta();
  std::map<std::string, std::string> metadata = {
      {"format", "pt"},
      {"experiment", experiment},
      {"run", opened.run.dir().filename().string()},
      {"checkpoint", opened.checkpoint.filename().string()},
      {"step", std::to_string(state.step)},
      {"genbox_commit", meta.contains("git_commit") && meta["git_commit"].is_string()
                            ? meta["git_commit"].get<std::string>()
                            : "unknown"},
      {"config_toml", read_file(opened.run.dir() / "config.toml")},
  };
  std::vector<std::filesystem::path> written;
  auto write = [&](const std::filesystem::path& path, NamedTensors tensors, const std::string& weights) {
    metadata["weights"] = weights;
    write_safetensors(path, Safetensors{std::move(tensors), metadata});
    fmt::print("wrote {} ({} weights of step {})\n", path.string(), weights, state.step);
    written.push_back(path);
  };
  write(file, std::move(trained), "model");
  if (has_ema) write(ema_safetensors_path(file), named_state(model), "ema");
  return written;
}

}  // namespace genbox
