#include "common/device.hpp"

#include <fmt/format.h>

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "base/config.hpp"
#include "common/distributed.hpp"

namespace genbox {

c10::Device resolve_device(const std::string& spec) {
  // Under torchrun each process takes the GPU of its local rank unless the config names one.
  std::optional<Launch> launch = launch_from_environment();
  const auto local_gpu = static_cast<c10::DeviceIndex>(launch ? launch->local_rank : 0);
  if (spec == "auto")
    return torch::cuda::is_available() ? c10::Device(torch::kCUDA, local_gpu) : c10::Device(torch::kCPU);
  if (spec == "cpu") return c10::Device(torch::kCPU);
  if (spec == "cuda" || spec.rfind("cuda:", 0) == 0) {
    if (!torch::cuda::is_available())
      throw ConfigError(
          fmt::format("device.device = \"{}\" but no CUDA device is available here; "
                      "use \"cpu\" or \"auto\"",
                      spec));
    int64_t index = local_gpu;
    if (spec.size() > 5) {
      try {
        index = std::stoll(spec.substr(5));
      } catch (const std::exception&) {
        index = -1;
      }
    }
    if (index < 0 || index >= static_cast<int64_t>(torch::cuda::device_count()))
      throw ConfigError(
          fmt::format("device.device = \"{}\": there are {} CUDA devices", spec, torch::cuda::device_count()));
    return c10::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw ConfigError(fmt::format("device.device = \"{}\" is not one of \"auto\", \"cpu\", \"cuda\", \"cuda:N\"", spec));
}

c10::Device setup_device(const DeviceSettings& settings, int64_t seed) {
  c10::Device device = resolve_device(settings.device);
  if (settings.threads > 0) torch::set_num_threads(static_cast<int>(settings.threads));
  torch::manual_seed(static_cast<uint64_t>(seed));
  return device;
}

AutocastGuard::AutocastGuard(const std::string& precision, c10::Device device) {
  if ((precision != "bf16" && precision != "fp16") || !device.is_cuda()) return;
  const at::ScalarType dtype = precision == "fp16" ? at::kHalf : at::kBFloat16;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  previous_ = at::autocast::is_autocast_enabled(at::kCUDA);
  at::autocast::set_autocast_enabled(at::kCUDA, true);
  at::autocast::set_autocast_dtype(at::kCUDA, dtype);
#else
  previous_ = at::autocast::is_enabled();
  at::autocast::set_enabled(true);
  at::autocast::set_autocast_gpu_dtype(dtype);
#endif
  at::autocast::increment_nesting();
  active_ = true;
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_enabled(at::kCUDA, previous_);
#else
  at::autocast::set_enabled(previous_);
#endif
}

std::string torch_version() { return TORCH_VERSION; }

}  // namespace genbox
