#include "nn/gelu.hpp"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "nn/simd.hpp"

namespace genbox::nn {

namespace {

constexpr float kTwoSqrtTwoOverPi = 1.5957691216057308f;  // 2 sqrt(2 / pi)
constexpr float kCubic = 0.044715f;
constexpr int64_t kGrain = 1 << 15;

// s = sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3)); y = x s;
// dy/dx = s + x s (1 - s) 2 sqrt(2/pi) (1 + 3 * 0.044715 x^2).
__attribute__((target("avx2,fma"))) inline __m256 sigmoid_argument(__m256 x) {
  __m256 x2 = _mm256_mul_ps(x, x);
  __m256 inner = _mm256_fmadd_ps(_mm256_set1_ps(kCubic), x2, _mm256_set1_ps(1.0f));
  return _mm256_mul_ps(_mm256_mul_ps(x, inner), _mm256_set1_ps(kTwoSqrtTwoOverPi));
}

__attribute__((target("avx2,fma"))) inline __m256 sigmoid(__m256 a) {
  __m256 one = _mm256_set1_ps(1.0f);
  return _mm256_div_ps(one, _mm256_add_ps(one, Sleef_expf8_u10avx2(_mm256_sub_ps(_mm256_setzero_ps(), a))));
}

inline float sigmoid_argument(float x) { return kTwoSqrtTwoOverPi * x * (1.0f + kCubic * x * x); }
inline float sigmoid(float a) { return 1.0f / (1.0f + std::exp(-a)); }
inline float slope(float x, float s) {
  return s + x * s * (1.0f - s) * kTwoSqrtTwoOverPi * (1.0f + 3.0f * kCubic * x * x);
}

__attribute__((target("avx2,fma"))) void forward_range(const float* x, float* y, int64_t begin, int64_t end) {
  int64_t i = begin;
  for (; i + 8 <= end; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    _mm256_storeu_ps(y + i, _mm256_mul_ps(v, sigmoid(sigmoid_argument(v))));
  }
  for (; i < end; ++i) y[i] = x[i] * sigmoid(sigmoid_argument(x[i]));
}

__attribute__((target("avx2,fma"))) void backward_range(const float* x, const float* g, float* dx, int64_t begin,
                                                        int64_t end) {
  const __m256 one = _mm256_set1_ps(1.0f), scale = _mm256_set1_ps(kTwoSqrtTwoOverPi);
  const __m256 cubic3 = _mm256_set1_ps(3.0f * kCubic);
  int64_t i = begin;
  for (; i + 8 <= end; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    __m256 s = sigmoid(sigmoid_argument(v));
    __m256 du = _mm256_mul_ps(scale, _mm256_fmadd_ps(cubic3, _mm256_mul_ps(v, v), one));
    __m256 d = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_mul_ps(v, s), _mm256_sub_ps(one, s)), du, s);
    _mm256_storeu_ps(dx + i, _mm256_mul_ps(_mm256_loadu_ps(g + i), d));
  }
  for (; i < end; ++i) dx[i] = g[i] * slope(x[i], sigmoid(sigmoid_argument(x[i])));
}

class GeluTanh : public torch::autograd::Function<GeluTanh> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x) {
    ctx->save_for_backward({x});
    torch::Tensor y = torch::empty_like(x);
    const float* in = x.data_ptr<float>();
    float* out = y.data_ptr<float>();
    at::parallel_for(0, x.numel(), kGrain, [&](int64_t b, int64_t e) { forward_range(in, out, b, e); });
    return y;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    torch::Tensor x = ctx->get_saved_variables()[0];
    torch::Tensor g = grad[0].contiguous();
    torch::Tensor dx = torch::empty_like(x);
    const float *in = x.data_ptr<float>(), *gp = g.data_ptr<float>();
    float* out = dx.data_ptr<float>();
    at::parallel_for(0, x.numel(), kGrain, [&](int64_t b, int64_t e) { backward_range(in, gp, out, b, e); });
    return {dx};
  }
};

}  // namespace

bool fused_gelu_available() { return avx2_fma_available(); }

torch::Tensor gelu_tanh(const torch::Tensor& x) {
  if (x.is_cpu() && x.scalar_type() == torch::kFloat32 && x.is_contiguous() && fused_gelu_available())
    return GeluTanh::apply(x);
  return torch::gelu(x, "tanh");
}

}  // namespace genbox::nn
