#include "flows/priors.hpp"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cmath>
#include <stdexcept>
#include <utility>

#include "nn/simd.hpp"

namespace genbox::flows {

namespace {

constexpr int64_t kGrainRows = 64;

// With e = exp(-|z|): log sigma(z) + log(1 - sigma(z)) = -|z| - 2 log1p(e), finite for any z, and
// its derivative -tanh(z / 2) = -sign(z) (1 - e) / (1 + e), both from the one exp.
inline void logistic_element(float z, float& density, float& slope) {
  const float a = std::fabs(z), e = std::exp(-a);
  density = -a - 2.0f * std::log1p(e);
  slope = std::copysign((1.0f - e) / (1.0f + e), -z);
}

// Columns [from, cols) of one row zr: the density per element into dr, or added to `sum`
// (returned), and the slope into sr when it is not null.
float logistic_columns(const float* zr, float* dr, float* sr, int64_t from, int64_t cols, bool sum_rows, float sum) {
  for (int64_t j = from; j < cols; ++j) {
    float d, s;
    logistic_element(zr[j], d, s);
    if (sum_rows)
      sum += d;
    else
      dr[j] = d;
    if (sr) sr[j] = s;
  }
  return sum;
}

// One pass over rows [begin, end) of z [rows, cols]: the density per element (out has z's shape)
// or summed per row (out [rows]), and the slope when `slope` is not null.
__attribute__((target("avx2,fma"))) void logistic_rows_avx2(const float* z, float* out, float* slope, int64_t cols,
                                                            bool sum_rows, int64_t begin, int64_t end) {
  const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f), two = _mm256_set1_ps(2.0f);
  for (int64_t r = begin; r < end; ++r) {
    const float* zr = z + r * cols;
    float* dr = sum_rows ? nullptr : out + r * cols;
    float* sr = slope ? slope + r * cols : nullptr;
    __m256 acc = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 8 <= cols; j += 8) {
      const __m256 v = _mm256_loadu_ps(zr + j);
      const __m256 minus_magnitude = _mm256_or_ps(v, sign);
      const __m256 e = Sleef_expf8_u10avx2(minus_magnitude);
      const __m256 d = _mm256_fnmadd_ps(two, Sleef_log1pf8_u10avx2(e), minus_magnitude);
      if (sum_rows)
        acc = _mm256_add_ps(acc, d);
      else
        _mm256_storeu_ps(dr + j, d);
      if (sr) {
        const __m256 magnitude = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));
        // The sign of -z on the magnitude.
        _mm256_storeu_ps(sr + j, _mm256_or_ps(magnitude, _mm256_andnot_ps(v, sign)));
      }
    }
    const float sum = logistic_columns(zr, dr, sr, j, cols, sum_rows, nn::sum_lanes(acc));
    if (sum_rows) out[r] = sum;
  }
}

void logistic_rows(const float* z, float* out, float* slope, int64_t cols, bool sum_rows, int64_t begin, int64_t end) {
  for (int64_t r = begin; r < end; ++r) {
    const float sum = logistic_columns(z + r * cols, sum_rows ? nullptr : out + r * cols,
                                       slope ? slope + r * cols : nullptr, 0, cols, sum_rows, 0.0f);
    if (sum_rows) out[r] = sum;
  }
}

// The same density from ATen ops, for other devices and dtypes, strided z, and sums of z that is
// not 2-D.
std::pair<torch::Tensor, torch::Tensor> logistic_composite(const torch::Tensor& z, bool sum_rows, bool with_slope) {
  torch::Tensor minus_magnitude = z.abs().neg_();
  torch::Tensor density = minus_magnitude.exp().log1p_().mul_(-2).add_(minus_magnitude);
  return {sum_rows ? density.sum(1) : density, with_slope ? z.mul(-0.5).tanh_() : torch::Tensor()};
}

}  // namespace

std::pair<torch::Tensor, torch::Tensor> logistic_density(const torch::Tensor& z, bool sum_rows, bool with_slope,
                                                         bool avx2) {
  const bool fused =
      z.is_cpu() && z.scalar_type() == torch::kFloat32 && z.is_contiguous() && (!sum_rows || z.dim() == 2);
  if (!fused) return logistic_composite(z, sum_rows, with_slope);
  const int64_t rows = sum_rows ? z.size(0) : 1, cols = sum_rows ? z.size(1) : z.numel();
  torch::Tensor out = sum_rows ? torch::empty({rows}, z.options()) : torch::empty_like(z);
  torch::Tensor slope = with_slope ? torch::empty_like(z) : torch::Tensor();
  const float* in = z.data_ptr<float>();
  float* out_data = out.data_ptr<float>();
  float* slope_data = with_slope ? slope.data_ptr<float>() : nullptr;
  avx2 = avx2 && nn::avx2_fma_available();
  at::parallel_for(0, rows, kGrainRows, [&](int64_t b, int64_t e) {
    if (avx2)
      logistic_rows_avx2(in, out_data, slope_data, cols, sum_rows, b, e);
    else
      logistic_rows(in, out_data, slope_data, cols, sum_rows, b, e);
  });
  return {out, slope};
}

namespace {

class LogisticLogDensity : public torch::autograd::Function<LogisticLogDensity> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& z, bool sum_rows) {
    auto [density, slope] = logistic_density(z, sum_rows, z.requires_grad());
    if (slope.defined()) ctx->save_for_backward({slope});
    ctx->saved_data["sum_rows"] = sum_rows;
    return density;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    torch::Tensor slope = ctx->get_saved_variables()[0];
    torch::Tensor g = ctx->saved_data["sum_rows"].toBool() ? grad[0].unsqueeze(1) : grad[0];
    return {g * slope, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor logistic_log_prob(const torch::Tensor& z) { return LogisticLogDensity::apply(z, false); }

torch::Tensor gaussian_log_prob(const torch::Tensor& z) { return -0.5 * z.square() - 0.5 * std::log(2 * M_PI); }

torch::Tensor Prior::log_prob(const torch::Tensor& z) const {
  return kind == "logistic" ? LogisticLogDensity::apply(z, true) : gaussian_log_prob(z).sum(1);
}

torch::Tensor Prior::sample(int64_t n, int64_t dim, double temperature, at::Generator generator,
                            const torch::TensorOptions& options) const {
  torch::Tensor z;
  if (kind == "logistic") {
    // Inverse CDF; u stays away from 0 and 1 so the logit is finite.
    torch::Tensor u = at::rand({n, dim}, generator).clamp(1e-6, 1 - 1e-6);
    z = torch::log(u) - torch::log1p(-u);
  } else if (kind == "gaussian") {
    z = at::randn({n, dim}, generator);
  } else {
    throw std::invalid_argument("unknown prior '" + kind + "'");
  }
  return (z * temperature).to(options);
}

double Prior::stddev() const { return kind == "logistic" ? M_PI / std::sqrt(3.0) : 1.0; }

}  // namespace genbox::flows
