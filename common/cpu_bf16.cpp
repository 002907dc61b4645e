#include "common/cpu_bf16.hpp"

#include <ATen/autocast_mode.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <cstdlib>
#include <mutex>
#include <string>

#include "common/device.hpp"

namespace genbox {

namespace {

// CPU autocast's lower-precision list (ATen's autocast_mode.cpp) less its recurrent and
// multi-head-attention internals, which genbox's models do not call.
constexpr const char* kLowPrecisionOps[] = {
    "linear",
    "matmul",
    "mm",
    "bmm",
    "addmm",
    "baddbmm",
    "addbmm",
    "linalg_vecdot",
    "prelu",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv1d.padding",
    "conv2d.padding",
    "conv3d.padding",
    "conv_transpose1d",
    "conv_transpose2d.input",
    "conv_transpose3d.input",
    "_convolution.deprecated",
    "scaled_dot_product_attention",
};

// What autocast casts: floating CPU tensors other than float64.
bool eligible(const at::Tensor& t) {
  return t.defined() && t.is_floating_point() && t.is_cpu() && t.scalar_type() != at::kDouble;
}

void low_precision_kernel(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  const at::ScalarType dtype = at::autocast::get_autocast_dtype(at::kCPU);
  const bool through_fp32 = dtype == at::kBFloat16 && cpu_bf16_through_fp32();
  const auto arguments = static_cast<std::ptrdiff_t>(op.schema().arguments().size());
  for (auto it = stack->end() - arguments; it != stack->end(); ++it) {
    if (!it->isTensor() || !eligible(it->toTensor())) continue;
    const at::Tensor& t = it->toTensor();
    *it = through_fp32 ? t.to(at::kBFloat16).to(at::kFloat) : t.to(dtype);
  }
  {
    c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::DispatchKey::AutocastCPU);
    op.callBoxed(stack);
  }
  if (!through_fp32) return;
  const auto returns = static_cast<std::ptrdiff_t>(op.schema().returns().size());
  for (auto it = stack->end() - returns; it != stack->end(); ++it)
    if (it->isTensor() && it->toTensor().scalar_type() == at::kFloat) *it = it->toTensor().to(at::kBFloat16);
}

// The dispatcher warns that ATen's autocast kernels are overridden: expected here, so unsaid.
class QuietWarnings : public c10::WarningHandler {
 public:
  void process(const c10::Warning&) override {}
};

}  // namespace

bool cpu_bf16_through_fp32() {
  const char* hook = std::getenv("GENBOX_CPU_BF16");
  if (hook != nullptr && std::string(hook) == "native") return false;
  if (hook != nullptr && std::string(hook) == "fp32") return true;
  static const bool native = cpu_has_native_bf16();
  return !native;
}

void install_cpu_bf16_through_fp32() {
  static std::once_flag once;
  std::call_once(once, [] {
    QuietWarnings quiet;
    c10::WarningUtils::WarningHandlerGuard guard(&quiet);
    // Kept for the process's life: dropping it would unregister the kernels.
    static auto* library =
        new torch::Library(torch::Library::IMPL, "aten", c10::DispatchKey::AutocastCPU, __FILE__, __LINE__);
    for (const char* op : kLowPrecisionOps)
      library->impl(op, torch::CppFunction::makeFromBoxedFunction<&low_precision_kernel>());
  });
}

}  // namespace genbox
