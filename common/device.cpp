#include "common/device.hpp"

#include <fmt/format.h>

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "base/config.hpp"
#include "common/cpu_bf16.hpp"
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

bool cpu_has_native_bf16() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream flags(line.substr(line.find(':') + 1));
    for (std::string flag; flags >> flag;)
      if (flag == "avx512_bf16" || flag == "amx_bf16") return true;
    return false;
  }
  return false;
}

std::string precision_speed_note(const std::string& precision, c10::Device device) {
  if (!device.is_cpu()) return "";
  if (precision == "fp16")
    return "fp16 on the CPU: no fast kernels (a scalar fallback, tens of times slower than fp32); "
           "meant for checks at tiny sizes";
  if (precision == "bf16" && cpu_bf16_through_fp32())
    return "bf16 on a CPU without native bf16 (no avx512_bf16 or amx_bf16 in /proc/cpuinfo): matmuls, "
           "convolutions and attention take bf16-rounded operands through fp32 kernels, at about fp32's speed";
  return "";
}

c10::ScalarType compute_dtype(const std::string& precision, c10::Device device) {
  if (precision == "bf16") return device.is_cpu() && cpu_bf16_through_fp32() ? at::kFloat : at::kBFloat16;
  return precision == "fp16" ? at::kHalf : at::kFloat;
}

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
AutocastState autocast_state(c10::DeviceType type) {
  if (type != at::kCPU && type != at::kCUDA) return {};
  return {at::autocast::is_autocast_enabled(type), at::autocast::get_autocast_dtype(type),
          at::autocast::is_autocast_cache_enabled()};
}

void set_autocast_state(c10::DeviceType type, const AutocastState& state) {
  if (type != at::kCPU && type != at::kCUDA) return;
  at::autocast::set_autocast_enabled(type, state.enabled);
  at::autocast::set_autocast_dtype(type, state.dtype);
  at::autocast::set_autocast_cache_enabled(state.cache);
}
#else
AutocastState autocast_state(c10::DeviceType type) {
  if (type == at::kCPU)
    return {at::autocast::is_cpu_enabled(), at::autocast::get_autocast_cpu_dtype(),
            at::autocast::is_autocast_cache_enabled()};
  if (type == at::kCUDA)
    return {at::autocast::is_enabled(), at::autocast::get_autocast_gpu_dtype(),
            at::autocast::is_autocast_cache_enabled()};
  return {};
}

void set_autocast_state(c10::DeviceType type, const AutocastState& state) {
  if (type == at::kCPU) {
    at::autocast::set_cpu_enabled(state.enabled);
    at::autocast::set_autocast_cpu_dtype(state.dtype);
  } else if (type == at::kCUDA) {
    at::autocast::set_enabled(state.enabled);
    at::autocast::set_autocast_gpu_dtype(state.dtype);
  } else {
    return;
  }
  at::autocast::set_autocast_cache_enabled(state.cache);
}
#endif

namespace {
bool autocast_switched_off() {
  const char* value = std::getenv("GENBOX_AUTOCAST");
  return value != nullptr && std::string(value) == "off";
}
}  // namespace

AutocastGuard::AutocastGuard(const std::string& precision, c10::Device device) : type_(device.type()) {
  if (precision != "bf16" && precision != "fp16") return;
  if ((!device.is_cpu() && !device.is_cuda()) || autocast_switched_off()) return;
  if (precision == "bf16" && device.is_cpu() && cpu_bf16_through_fp32()) install_cpu_bf16_through_fp32();
  previous_ = autocast_state(type_);
  set_autocast_state(type_, {true, precision == "fp16" ? at::kHalf : at::kBFloat16, true});
  at::autocast::increment_nesting();
  active_ = true;
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast_state(type_, previous_);
}

Fp32Island::Fp32Island(c10::Device device) : type_(device.type()), previous_(autocast_state(type_)) {
  AutocastState off = previous_;
  off.enabled = false;
  set_autocast_state(type_, off);
}

Fp32Island::~Fp32Island() { set_autocast_state(type_, previous_); }

std::string torch_version() { return TORCH_VERSION; }

}  // namespace genbox
