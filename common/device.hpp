// Where and how tensors compute: device choice, CPU threads, seeding and bf16/fp16 autocast.
#pragma once

#include <c10/core/Device.h>

#include <cstdint>
#include <string>

#include "base/settings.hpp"

namespace genbox {

// "auto" picks a GPU when one is present (cuda:LOCAL_RANK under torchrun, else cuda:0); asking
// for CUDA without one is a ConfigError.
c10::Device resolve_device(const std::string& spec);

// Applies threads, seeds torch's generators and returns the device.
c10::Device setup_device(const DeviceSettings& settings, int64_t seed);

// While alive, matmuls autocast to bf16 or fp16 on CUDA when precision is "bf16" or "fp16";
// elsewhere a no-op.
class AutocastGuard {
 public:
  AutocastGuard(const std::string& precision, c10::Device device);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool active_ = false;
  bool previous_ = false;
};

std::string torch_version();

}  // namespace genbox
