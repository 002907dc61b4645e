// The machine's plain matmul speed at a model's own shapes: what `<exp> bench` compares a
// training step's matmul rate with, so that "the step reaches X% of its matmuls alone" is
// measured on the same machine, threads and precision in the same run.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <vector>

namespace genbox {

// C [m, n] = A [m, k] x B [k, n], with A stored as [k, m] (transpose_a) or B as [n, k]
// (transpose_b) the way autograd meets them (x W^T forward, g^T x for a weight's gradient).
struct MatmulShape {
  int64_t m = 0, k = 0, n = 0;
  bool transpose_a = false, transpose_b = false;
  double flops() const { return 2.0 * double(m) * double(k) * double(n); }
};

// GFLOP/s of the shapes multiplied back to back with nothing else (operands made once): the
// rate a step made only of these matmuls would reach.
double matmul_gflops(const std::vector<MatmulShape>& shapes, c10::ScalarType dtype, const c10::Device& device);
double matmul_gflops(int64_t m, int64_t k, int64_t n, c10::ScalarType dtype, const c10::Device& device);

double total_flops(const std::vector<MatmulShape>& shapes);

}  // namespace genbox
