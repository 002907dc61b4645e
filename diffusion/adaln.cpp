#include "diffusion/adaln.hpp"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <cmath>

#include "nn/simd.hpp"

namespace genbox::diffusion {

namespace {

constexpr float kLayerNormEps = 1e-6f;  // DiT's layer norms

bool fused(const torch::Tensor& x, const torch::Tensor& per_image, const torch::Tensor& other) {
  auto cpu_float = [](const torch::Tensor& t) { return t.is_cpu() && t.scalar_type() == torch::kFloat32; };
  return x.dim() == 3 && cpu_float(x) && cpu_float(per_image) && cpu_float(other) && per_image.dim() == 2 &&
         per_image.size(0) == x.size(0) && per_image.size(1) == x.size(2) && other.sizes() == x.sizes();
}

// Calls token(b, row) for the offset `row` of every token of x [B, T, C] (contiguous), images
// split across threads: a per-image sum is only ever written by one thread.
template <class Token>
void for_each_token(const torch::Tensor& x, Token token) {
  const int64_t T = x.size(1), C = x.size(2);
  at::parallel_for(0, x.size(0), 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      for (int64_t t = 0; t < T; ++t) token(b, (b * T + t) * C);
  });
}

float* out(torch::Tensor& t) { return t.data_ptr<float>(); }
const float* in(const torch::Tensor& t) { return t.data_ptr<float>(); }

class Modulate : public torch::autograd::Function<Modulate> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x_in,
                               const torch::Tensor& shift_in, const torch::Tensor& scale_in) {
    const torch::Tensor x = x_in.contiguous(), shift = shift_in.contiguous(), scale = scale_in.contiguous();
    ctx->save_for_backward({x, scale});
    torch::Tensor y = torch::empty_like(x);
    const int64_t C = x.size(2);
    const float* __restrict xp = in(x), * __restrict sh = in(shift), * __restrict sc = in(scale);
    float* __restrict yp = out(y);
    for_each_token(x, [&](int64_t b, int64_t row) {
      for (int64_t c = 0; c < C; ++c) yp[row + c] = xp[row + c] * (1.0f + sc[b * C + c]) + sh[b * C + c];
    });
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &scale = saved[1];
    const torch::Tensor g = grad[0].contiguous();
    const int64_t B = x.size(0), C = x.size(2);
    torch::Tensor dx = torch::empty_like(x), dshift = torch::zeros({B, C}, x.options());
    torch::Tensor dscale = torch::zeros({B, C}, x.options());
    const float* __restrict xp = in(x), * __restrict gp = in(g), * __restrict sc = in(scale);
    float* __restrict dxp = out(dx), * __restrict dsh = out(dshift), * __restrict dsc = out(dscale);
    for_each_token(x, [&](int64_t b, int64_t row) {
      for (int64_t c = 0; c < C; ++c) {
        const float gv = gp[row + c];
        dxp[row + c] = gv * (1.0f + sc[b * C + c]);
        dsh[b * C + c] += gv;
        dsc[b * C + c] += gv * xp[row + c];
      }
    });
    return {dx, dshift, dscale};
  }
};

class GatedResidual : public torch::autograd::Function<GatedResidual> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x_in,
                               const torch::Tensor& gate_in, const torch::Tensor& y_in) {
    const torch::Tensor x = x_in.contiguous(), gate = gate_in.contiguous(), y = y_in.contiguous();
    ctx->save_for_backward({gate, y});
    torch::Tensor result = torch::empty_like(x);
    const int64_t C = x.size(2);
    const float* __restrict xp = in(x), * __restrict gt = in(gate), * __restrict yp = in(y);
    float* __restrict rp = out(result);
    for_each_token(x, [&](int64_t b, int64_t row) {
      for (int64_t c = 0; c < C; ++c) rp[row + c] = xp[row + c] + gt[b * C + c] * yp[row + c];
    });
    return result;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &gate = saved[0], &y = saved[1];
    const torch::Tensor g = grad[0].contiguous();
    const int64_t B = y.size(0), C = y.size(2);
    torch::Tensor dy = torch::empty_like(y), dgate = torch::zeros({B, C}, y.options());
    const float* __restrict gp = in(g), * __restrict gt = in(gate), * __restrict yp = in(y);
    float* __restrict dyp = out(dy), * __restrict dgt = out(dgate);
    for_each_token(y, [&](int64_t b, int64_t row) {
      for (int64_t c = 0; c < C; ++c) {
        const float gv = gp[row + c];
        dyp[row + c] = gv * gt[b * C + c];
        dgt[b * C + c] += gv * yp[row + c];
      }
    });
    // The residual passes its gradient through unchanged.
    return {g, dgate, dy};
  }
};

// One token of norm_modulate: y = (x - mean) / sqrt(var + eps) * (1 + scale) + shift over C values,
// mean and variance in two passes. The AVX2 form takes C a multiple of 8.
__attribute__((target("avx2,fma"))) void norm_modulate_token_avx2(const float* x, const float* shift,
                                                                  const float* scale, float* y, int64_t C) {
  __m256 sum = _mm256_setzero_ps();
  for (int64_t c = 0; c < C; c += 8) sum = _mm256_add_ps(sum, _mm256_loadu_ps(x + c));
  const float mean = nn::sum_lanes(sum) / float(C);
  const __m256 centre = _mm256_set1_ps(mean);
  __m256 squares = _mm256_setzero_ps();
  for (int64_t c = 0; c < C; c += 8) {
    const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + c), centre);
    squares = _mm256_fmadd_ps(d, d, squares);
  }
  const __m256 rstd = _mm256_set1_ps(1.0f / std::sqrt(nn::sum_lanes(squares) / float(C) + kLayerNormEps));
  const __m256 one = _mm256_set1_ps(1.0f);
  for (int64_t c = 0; c < C; c += 8) {
    const __m256 normed = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + c), centre), rstd);
    const __m256 factor = _mm256_add_ps(one, _mm256_loadu_ps(scale + c));
    _mm256_storeu_ps(y + c, _mm256_fmadd_ps(normed, factor, _mm256_loadu_ps(shift + c)));
  }
}

void norm_modulate_token(const float* x, const float* shift, const float* scale, float* y, int64_t C) {
  float sum = 0;
  for (int64_t c = 0; c < C; ++c) sum += x[c];
  const float mean = sum / float(C);
  float squares = 0;
  for (int64_t c = 0; c < C; ++c) squares += (x[c] - mean) * (x[c] - mean);
  const float rstd = 1.0f / std::sqrt(squares / float(C) + kLayerNormEps);
  for (int64_t c = 0; c < C; ++c) y[c] = (x[c] - mean) * rstd * (1.0f + scale[c]) + shift[c];
}

}  // namespace

torch::Tensor modulate_by_addcmul(const torch::Tensor& x, const torch::Tensor& shift, const torch::Tensor& scale) {
  return torch::addcmul(shift.unsqueeze(1), x, 1 + scale.unsqueeze(1));
}

torch::Tensor gated_residual_by_addcmul(const torch::Tensor& x, const torch::Tensor& gate, const torch::Tensor& y) {
  return torch::addcmul(x, gate.unsqueeze(1), y);
}

torch::Tensor modulate(const torch::Tensor& x, const torch::Tensor& shift, const torch::Tensor& scale) {
  if (!fused(x, shift, x) || !fused(x, scale, x)) return modulate_by_addcmul(x, shift, scale);
  return Modulate::apply(x, shift, scale);
}

torch::Tensor norm_modulate_by_ops(const torch::Tensor& x, const torch::Tensor& shift, const torch::Tensor& scale) {
  return modulate(torch::layer_norm(x, {x.size(-1)}, {}, {}, kLayerNormEps), shift, scale);
}

torch::Tensor norm_modulate(const torch::Tensor& x, const torch::Tensor& shift, const torch::Tensor& scale) {
  const bool gradient_wanted =
      torch::GradMode::is_enabled() && (x.requires_grad() || shift.requires_grad() || scale.requires_grad());
  // Under CPU autocast the layer norm follows autocast's dtype rules: the ops.
  if (gradient_wanted || at::autocast::is_autocast_enabled(at::kCPU) || !fused(x, shift, x) || !fused(x, scale, x))
    return norm_modulate_by_ops(x, shift, scale);
  const torch::Tensor tokens = x.contiguous(), shifts = shift.contiguous(), scales = scale.contiguous();
  torch::Tensor y = torch::empty_like(tokens);
  const int64_t C = tokens.size(2);
  const bool vectorised = nn::avx2_fma_available() && C % 8 == 0;
  const float *xp = in(tokens), *sh = in(shifts), *sc = in(scales);
  float* yp = out(y);
  for_each_token(tokens, [&](int64_t b, int64_t row) {
    if (vectorised)
      norm_modulate_token_avx2(xp + row, sh + b * C, sc + b * C, yp + row, C);
    else
      norm_modulate_token(xp + row, sh + b * C, sc + b * C, yp + row, C);
  });
  return y;
}

torch::Tensor gated_residual(const torch::Tensor& x, const torch::Tensor& gate, const torch::Tensor& y) {
  if (!fused(x, gate, y)) return gated_residual_by_addcmul(x, gate, y);
  return GatedResidual::apply(x, gate, y);
}

}  // namespace genbox::diffusion
