#include "nn/rms_norm.hpp"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cmath>

#include "nn/simd.hpp"

namespace genbox::nn {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
  scale = register_parameter("scale", torch::ones({dim}));
}

namespace {

// sum_i x_i^2 over a row, in double: 8 floats a step on AVX2 (the scalar loop's double sum is a
// chain of dependent adds, a 64-wide row's worth of latency per query head).
__attribute__((target("avx2,fma"))) double sum_of_squares_avx2(const float* x, int64_t n) {
  __m256d low = _mm256_setzero_pd(), high = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256d a = _mm256_cvtps_pd(_mm256_castps256_ps128(v)), b = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
    low = _mm256_fmadd_pd(a, a, low);
    high = _mm256_fmadd_pd(b, b, high);
  }
  double lanes[4];
  _mm256_storeu_pd(lanes, _mm256_add_pd(low, high));
  double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  for (; i < n; ++i) sum += double(x[i]) * x[i];
  return sum;
}

double sum_of_squares(const float* x, int64_t n) {
  if (avx2_fma_available()) return sum_of_squares_avx2(x, n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += double(x[i]) * x[i];
  return sum;
}

// The backward pass's row sums: returns sum_i w_i g_i x_i and adds g_i x_i r to dw_i, in double,
// 4 values a step on AVX2.
__attribute__((target("avx2,fma"))) double backward_sums_avx2(const float* w, const float* g, const float* x, float r,
                                                              double* dw, int64_t n) {
  __m256d dot = _mm256_setzero_pd();
  const __m256d rv = _mm256_set1_pd(r);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m256d wv = _mm256_cvtps_pd(_mm_loadu_ps(w + i)), gv = _mm256_cvtps_pd(_mm_loadu_ps(g + i)),
                  xv = _mm256_cvtps_pd(_mm_loadu_ps(x + i));
    dot = _mm256_add_pd(dot, _mm256_mul_pd(_mm256_mul_pd(wv, gv), xv));
    _mm256_storeu_pd(dw + i, _mm256_add_pd(_mm256_loadu_pd(dw + i), _mm256_mul_pd(_mm256_mul_pd(gv, xv), rv)));
  }
  double lanes[4];
  _mm256_storeu_pd(lanes, dot);
  double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  for (; i < n; ++i) {
    sum += double(w[i]) * g[i] * x[i];
    dw[i] += double(g[i]) * x[i] * r;
  }
  return sum;
}

double backward_sums(const float* w, const float* g, const float* x, float r, double* dw, int64_t n) {
  if (avx2_fma_available()) return backward_sums_avx2(w, g, x, r, dw, n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    sum += double(w[i]) * g[i] * x[i];
    dw[i] += double(g[i]) * x[i] * r;
  }
  return sum;
}

// The CPU float32 case in one pass each way over rows of `dim` contiguous values (the composite
// of ATen ops took 1.3 ms forward and backward for one tiny-DiT query tensor, 200 k values on
// one thread; this takes a tenth). Row sums accumulate in double.
// Forward: r = (mean(x^2) + eps)^-1/2, y = x r w.
// Backward: dx_j = r w_j g_j - x_j r^3 sum_i(w_i g_i x_i) / D, dw = sum over rows of g x r.
class CpuRmsNorm : public torch::autograd::Function<CpuRmsNorm> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& input,
                               const torch::Tensor& scale, double eps) {
    torch::Tensor x = input.contiguous();
    const int64_t dim = x.size(-1), rows = x.numel() / std::max<int64_t>(dim, 1);
    torch::Tensor y = torch::empty_like(x), inverse_rms = torch::empty({rows}, x.options());
    const float *xp = x.data_ptr<float>(), *wp = scale.data_ptr<float>();
    float *yp = y.data_ptr<float>(), *rp = inverse_rms.data_ptr<float>();
    at::parallel_for(0, rows, 256, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const float* xr = xp + row * dim;
        const float r = float(1.0 / std::sqrt(sum_of_squares(xr, dim) / double(dim) + eps));
        rp[row] = r;
        float* yr = yp + row * dim;
        for (int64_t i = 0; i < dim; ++i) yr[i] = xr[i] * r * wp[i];
      }
    });
    ctx->save_for_backward({x, scale, inverse_rms});
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &scale = saved[1], &inverse_rms = saved[2];
    torch::Tensor g = grad[0].contiguous();
    const int64_t dim = x.size(-1), rows = x.numel() / std::max<int64_t>(dim, 1);
    torch::Tensor dx = torch::empty_like(x);
    const float *xp = x.data_ptr<float>(), *wp = scale.data_ptr<float>(), *gp = g.data_ptr<float>(),
                *rp = inverse_rms.data_ptr<float>();
    float* dxp = dx.data_ptr<float>();
    // dw: one partial sum per chunk of rows, added up after (chunks are fixed by the grain, so
    // the result does not depend on the thread count).
    const int64_t grain = 256, chunks = (rows + grain - 1) / grain;
    torch::Tensor partial = torch::zeros({std::max<int64_t>(chunks, 1), dim}, torch::kFloat64);
    double* pp = partial.data_ptr<double>();
    at::parallel_for(0, chunks, 1, [&](int64_t first, int64_t last) {
      for (int64_t chunk = first; chunk < last; ++chunk) {
        double* dw = pp + chunk * dim;
        for (int64_t row = chunk * grain; row < std::min(rows, (chunk + 1) * grain); ++row) {
          const float *xr = xp + row * dim, *gr = gp + row * dim;
          const float r = rp[row];
          const double dot = backward_sums(wp, gr, xr, r, dw, dim);
          const float correction = float(dot / double(dim)) * r * r * r;
          float* dxr = dxp + row * dim;
          for (int64_t i = 0; i < dim; ++i) dxr[i] = r * wp[i] * gr[i] - xr[i] * correction;
        }
      }
    });
    return {dx, partial.sum(0).to(scale.scalar_type()), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  if (x.is_cpu() && x.scalar_type() == torch::kFloat32 && scale.scalar_type() == torch::kFloat32)
    return CpuRmsNorm::apply(x, scale, eps_);
  torch::Tensor wide = x.dtype() == torch::kFloat16 || x.dtype() == torch::kBFloat16 ? x.to(torch::kFloat) : x;
  torch::Tensor normed = wide * torch::rsqrt(wide.square().mean(-1, /*keepdim=*/true) + eps_);
  return (normed * scale).to(x.scalar_type());
}

}  // namespace genbox::nn
