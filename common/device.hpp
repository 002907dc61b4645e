// Where and how tensors compute: device choice, CPU threads, seeding and bf16/fp16 autocast
// (Micikevicius et al. 2018, "Mixed Precision Training": low-precision compute, fp32 master weights).
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <string>

#include "base/settings.hpp"

namespace genbox {

// "auto" picks a GPU when one is present (cuda:LOCAL_RANK under torchrun, else cuda:0); asking
// for CUDA without one is a ConfigError.
c10::Device resolve_device(const std::string& spec);

// Applies threads, seeds torch's generators and returns the device.
c10::Device setup_device(const DeviceSettings& settings, int64_t seed);

// The autocast state of one device type (CPU or CUDA): whether it is on, its dtype and whether
// cast weights are cached. Autocast state is per thread.
struct AutocastState {
  bool enabled = false;
  c10::ScalarType dtype = c10::ScalarType::BFloat16;
  bool cache = true;
};

// While alive, the ops on ATen's autocast lists (matmuls, linear layers, convolutions,
// attention) compute in bf16 or fp16 on the device's type when precision is "bf16" or "fp16";
// parameters, their gradients and the optimizer's state stay fp32. On the CPU autocast leaves
// softmax, norms, exp, log and sums in whatever dtype reaches them (CUDA runs them in fp32), so
// code that must stay fp32 opens an Fp32Island. Leaving the outermost guard empties the cache of
// cast weights, or the next forward would see the weights of before the optimizer's step.
// "fp32" is a no-op. The test hook GENBOX_AUTOCAST=off makes every guard a no-op (fp16's loss
// scaling alone, which must then train bit for bit as fp32).
class AutocastGuard {
 public:
  AutocastGuard(const std::string& precision, c10::Device device);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool active_ = false;
  c10::DeviceType type_ = c10::DeviceType::CPU;
  AutocastState previous_;
};

// While alive, autocast is off on the device's type, so ops run in the dtype of their inputs:
// code inside casts what may arrive in bf16/fp16 with .to(torch::kFloat32). For what must be
// computed in fp32 under any precision: log-determinants, priors, timestep embeddings, matching
// costs and losses. The previous state comes back when it goes.
class Fp32Island {
 public:
  explicit Fp32Island(c10::Device device);
  ~Fp32Island();
  Fp32Island(const Fp32Island&) = delete;
  Fp32Island& operator=(const Fp32Island&) = delete;

 private:
  c10::DeviceType type_;
  AutocastState previous_;
};

// Whether this CPU computes bf16 natively (/proc/cpuinfo lists avx512_bf16 or amx_bf16): only
// there are bf16 matmuls faster than fp32 ones; elsewhere ATen's bf16 kernels are many times slower.
bool cpu_has_native_bf16();

// One line for the run log when device.precision runs other than its name suggests where it
// runs (fp16 on any CPU: slow; bf16 on a CPU without native bf16: common/cpu_bf16.hpp); empty
// otherwise.
std::string precision_speed_note(const std::string& precision, c10::Device device);

// The dtype the matmuls of device.precision run in on `device`: bf16, fp16 or fp32 (also bf16's
// on a CPU that takes it through fp32 kernels).
c10::ScalarType compute_dtype(const std::string& precision, c10::Device device);

// The autocast state of a device type on this thread (CPU and CUDA; others are never on).
AutocastState autocast_state(c10::DeviceType type);
void set_autocast_state(c10::DeviceType type, const AutocastState& state);

std::string torch_version();

}  // namespace genbox
