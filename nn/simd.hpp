// What the hand-vectorised CPU kernels (GELU, NICE's logistic density, the DETR matcher) share: whether this CPU runs
// AVX2 with FMA, checked once at run time, and Sleef's 8-wide AVX2 functions that libtorch_cpu exports (ATen's own
// vectorised kernels call them, so every genbox binary already links them; 1-ulp accuracy, "u10").
#pragma once

#include <immintrin.h>

extern "C" __m256 Sleef_expf8_u10avx2(__m256);
extern "C" __m256 Sleef_log1pf8_u10avx2(__m256);

namespace genbox::nn {

inline bool avx2_fma_available() {
  static const bool available = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return available;
}

// The sum of v's 8 lanes, pairwise: ((0 + 1) + (2 + 3)) + ((4 + 5) + (6 + 7)).
__attribute__((target("avx2,fma"))) inline float sum_lanes(__m256 v) {
  float lanes[8];
  _mm256_storeu_ps(lanes, v);
  return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}

}  // namespace genbox::nn
