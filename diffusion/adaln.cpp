#include "diffusion/adaln.hpp"

#include <ATen/Parallel.h>
#include <torch/torch.h>

namespace genbox::diffusion {

namespace {

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

torch::Tensor gated_residual(const torch::Tensor& x, const torch::Tensor& gate, const torch::Tensor& y) {
  if (!fused(x, gate, y)) return gated_residual_by_addcmul(x, gate, y);
  return GatedResidual::apply(x, gate, y);
}

}  // namespace genbox::diffusion
