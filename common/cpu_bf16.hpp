// bf16 autocast on CPUs without native bf16 (no avx512_bf16 or amx_bf16). There ATen's bf16
// matmul, convolution and attention kernels fall back to generic loops, 20-30x slower than fp32
// (3 against 88 GFLOP/s on one AVX2 core), PyTorch's as much as ours. On such a CPU genbox
// replaces CPU autocast's low-precision rule by one that keeps bf16's numbers and fp32's speed:
// the operands are rounded to bf16 as autocast rounds them, multiplied by the fp32 kernels
// (accumulating in fp32, as the bf16 kernels do too) and the result rounded to bf16. Forward
// values therefore match a native bf16 CPU's up to the order of float sums; the backward
// products see fp32 gradients where a native CPU would round them to bf16 first. fp16 autocast
// keeps its meaning (the operands cast to fp16, ATen's kernels). The rule is installed in the
// dispatcher the first time a bf16 autocast guard opens on such a CPU, for the process's life.
#pragma once

namespace genbox {

// Whether this process takes the fp32 route for CPU bf16 autocast: on a CPU without native bf16,
// unless the test hook GENBOX_CPU_BF16 says "native" (ATen's kernels) or "fp32" (this route on
// any CPU).
bool cpu_bf16_through_fp32();

// Installs the rule (once; later calls do nothing).
void install_cpu_bf16_through_fp32();

}  // namespace genbox
