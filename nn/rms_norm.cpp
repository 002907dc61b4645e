#include "nn/rms_norm.hpp"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cmath>

namespace genbox::nn {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
  scale = register_parameter("scale", torch::ones({dim}));
}

namespace {

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
        double sum = 0;
        for (int64_t i = 0; i < dim; ++i) sum += double(xr[i]) * xr[i];
        const float r = float(1.0 / std::sqrt(sum / double(dim) + eps));
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
          double dot = 0;
          for (int64_t i = 0; i < dim; ++i) {
            dot += double(wp[i]) * gr[i] * xr[i];
            dw[i] += double(gr[i]) * xr[i] * r;
          }
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
