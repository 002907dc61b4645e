#include "nn/conv3x3.hpp"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "nn/simd.hpp"

namespace genbox::nn {

namespace {

constexpr int kOut = 4;             // output tile side, m
constexpr int kIn = kOut + 2;       // input tile side, m + 3 - 1
constexpr int kPoints = kIn * kIn;  // element-wise products per tile and channel pair
constexpr int64_t kMaxChunk = 256;  // tiles per matrix product: 36 x 256 x 512 floats at 512 channels
constexpr int64_t kLanes = 8;       // floats per AVX2 register

// Lavin & Gray's F(4x4, 3x3), interpolation points 0, 1, -1, 2, -2 and infinity.
constexpr float kBt[kIn][kIn] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                 {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
constexpr float kAt[kOut][kIn] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
constexpr float kG[kIn][3] = {{1.0f / 4, 0, 0},
                              {-1.0f / 6, -1.0f / 6, -1.0f / 6},
                              {-1.0f / 6, 1.0f / 6, -1.0f / 6},
                              {1.0f / 24, 1.0f / 12, 1.0f / 6},
                              {1.0f / 24, -1.0f / 12, 1.0f / 6},
                              {0, 0, 1}};

// Where the tiles lie: tile t is image t / (tiles_y tiles_x), row of tiles (t / tiles_x) % tiles_y,
// column t % tiles_x; its output pixels start at 4 x (row, column), its input tile `padding`
// pixels up and left of them. Tensors are channels-last: [B, H, W, C] in memory.
struct Geometry {
  int64_t height, width;          // input
  int64_t out_height, out_width;  // output: input + 2 padding - 2
  int64_t padding, in, out, tiles_y, tiles_x;
};

// Every transform is M X N^T for constant matrices M, N and a small matrix X of 8-lane vectors (the
// channels): `left` gives M X, `right` gives X N^T. Zero coefficients are skipped at compile time
// once the loops unroll.
template <int Rows, int Inner, int Columns>
__attribute__((target("avx2,fma"))) inline void left(const float (&m)[Rows][Inner], const __m256 (&x)[Inner][Columns],
                                                     __m256 (&result)[Rows][Columns]) {
#pragma GCC unroll 6
  for (int i = 0; i < Rows; ++i)
#pragma GCC unroll 6
    for (int j = 0; j < Columns; ++j) {
      __m256 sum = _mm256_setzero_ps();
#pragma GCC unroll 6
      for (int k = 0; k < Inner; ++k)
        if (m[i][k] != 0) sum = _mm256_fmadd_ps(_mm256_set1_ps(m[i][k]), x[k][j], sum);
      result[i][j] = sum;
    }
}

template <int Rows, int Inner, int Columns>
__attribute__((target("avx2,fma"))) inline void right(const __m256 (&x)[Rows][Inner], const float (&n)[Columns][Inner],
                                                      __m256 (&result)[Rows][Columns]) {
#pragma GCC unroll 6
  for (int i = 0; i < Rows; ++i)
#pragma GCC unroll 6
    for (int j = 0; j < Columns; ++j) {
      __m256 sum = _mm256_setzero_ps();
#pragma GCC unroll 6
      for (int k = 0; k < Inner; ++k)
        if (n[j][k] != 0) sum = _mm256_fmadd_ps(_mm256_set1_ps(n[j][k]), x[i][k], sum);
      result[i][j] = sum;
    }
}

// U[p][t][c] = (B^T d B)[p] for the input tiles d of tiles first .. first + count - 1; U is
// [36, count, in]. Positions outside the image read 0.
__attribute__((target("avx2,fma"))) void transform_input(const float* x, const Geometry& g, int64_t first,
                                                         int64_t count, float* u) {
  const float* at[kIn][kIn];
  for (int64_t t = 0; t < count; ++t) {
    const int64_t tile = first + t, image = tile / (g.tiles_y * g.tiles_x);
    const int64_t top = (tile / g.tiles_x) % g.tiles_y * kOut - g.padding;
    const int64_t left_column = tile % g.tiles_x * kOut - g.padding;
    for (int i = 0; i < kIn; ++i)
      for (int j = 0; j < kIn; ++j) {
        const int64_t row = top + i, column = left_column + j;
        const bool inside = row >= 0 && row < g.height && column >= 0 && column < g.width;
        at[i][j] = inside ? x + ((image * g.height + row) * g.width + column) * g.in : nullptr;
      }
    for (int64_t c = 0; c < g.in; c += kLanes) {
      __m256 d[kIn][kIn], rows[kIn][kIn], v[kIn][kIn];
      for (int i = 0; i < kIn; ++i)
        for (int j = 0; j < kIn; ++j) d[i][j] = at[i][j] ? _mm256_loadu_ps(at[i][j] + c) : _mm256_setzero_ps();
      left(kBt, d, rows);
      right(rows, kBt, v);
      for (int i = 0; i < kIn; ++i)
        for (int j = 0; j < kIn; ++j) _mm256_storeu_ps(u + ((i * kIn + j) * count + t) * g.in + c, v[i][j]);
    }
  }
}

// y = A^T M A + bias (+ residual) for the products M [36, count, out] of tiles first ..
// first + count - 1, written where the output tile lies inside the image.
__attribute__((target("avx2,fma"))) void transform_output(const float* m, const Geometry& g, int64_t first,
                                                          int64_t count, const float* bias, const float* residual,
                                                          float* y) {
  for (int64_t t = 0; t < count; ++t) {
    const int64_t tile = first + t, image = tile / (g.tiles_y * g.tiles_x);
    const int64_t top = (tile / g.tiles_x) % g.tiles_y * kOut, left_column = tile % g.tiles_x * kOut;
    const int rows_inside = static_cast<int>(std::min<int64_t>(kOut, g.out_height - top));
    const int columns_inside = static_cast<int>(std::min<int64_t>(kOut, g.out_width - left_column));
    for (int64_t c = 0; c < g.out; c += kLanes) {
      __m256 products[kIn][kIn], rows[kOut][kIn], tile_out[kOut][kOut];
      for (int i = 0; i < kIn; ++i)
        for (int j = 0; j < kIn; ++j) products[i][j] = _mm256_loadu_ps(m + ((i * kIn + j) * count + t) * g.out + c);
      left(kAt, products, rows);
      right(rows, kAt, tile_out);
      const __m256 offset = bias ? _mm256_loadu_ps(bias + c) : _mm256_setzero_ps();
      for (int i = 0; i < rows_inside; ++i)
        for (int j = 0; j < columns_inside; ++j) {
          const int64_t at = ((image * g.out_height + top + i) * g.out_width + left_column + j) * g.out + c;
          __m256 sum = _mm256_add_ps(tile_out[i][j], offset);
          if (residual) sum = _mm256_add_ps(_mm256_loadu_ps(residual + at), sum);
          _mm256_storeu_ps(y + at, sum);
        }
    }
  }
}

// F[p][c][:] = (G g G^T)[p] for the filters g = w[c][:][:][:] of input channels begin .. end - 1;
// w is [C_in, 3, 3, C_out], F is [36, C_in, C_out].
__attribute__((target("avx2,fma"))) void transform_filters(const float* w, int64_t in, int64_t out, int64_t begin,
                                                           int64_t end, float* f) {
  for (int64_t c = begin; c < end; ++c)
    for (int64_t o = 0; o < out; o += kLanes) {
      __m256 g[3][3], rows[kIn][3], transformed[kIn][kIn];
      for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) g[a][b] = _mm256_loadu_ps(w + ((c * 3 + a) * 3 + b) * out + o);
      left(kG, g, rows);
      right(rows, kG, transformed);
      for (int i = 0; i < kIn; ++i)
        for (int j = 0; j < kIn; ++j) _mm256_storeu_ps(f + ((i * kIn + j) * in + c) * out + o, transformed[i][j]);
    }
}

// Work memory kept per thread across calls, grown to the largest call: a fresh allocation of tens
// of MiB is fresh pages, and faulting them in cost more than the transforms themselves (two threads
// faulting at once, the most). At most 36 x 256 x (C_in + C_out) floats per thread for the tiles
// and products, and 36 x C_in x C_out on the calling thread for the filters (38 MiB each at 512
// channels).
enum class Scratch { kFilters, kTiles, kProducts };

torch::Tensor scratch(Scratch slot, at::IntArrayRef sizes) {
  thread_local torch::Tensor buffers[3];
  torch::Tensor& buffer = buffers[static_cast<int>(slot)];
  const int64_t floats = c10::multiply_integers(sizes);
  if (!buffer.defined() || buffer.numel() < floats) buffer = torch::empty({floats});
  return buffer.narrow(0, 0, floats).view(sizes);
}

// The filters' transform of `weight` into `filters` [36, C_in, C_out].
void write_filters(const torch::Tensor& weight, torch::Tensor& filters) {
  const int64_t out = weight.size(0), in = weight.size(1);
  const torch::Tensor by_input = weight.detach().permute({1, 2, 3, 0}).contiguous();  // [C_in, 3, 3, C_out]
  const float* w = by_input.data_ptr<float>();
  float* f = filters.data_ptr<float>();
  at::parallel_for(0, in, 16, [&](int64_t begin, int64_t end) { transform_filters(w, in, out, begin, end, f); });
}

bool switched_off_by_environment() {
  const char* value = std::getenv("GENBOX_WINOGRAD");
  return value && std::strcmp(value, "off") == 0;
}

}  // namespace

torch::Tensor winograd_filters(const torch::Tensor& weight) {
  TORCH_CHECK(avx2_fma_available(), "winograd_filters: this CPU lacks AVX2 and FMA");
  TORCH_CHECK(weight.dim() == 4 && weight.size(2) == 3 && weight.size(3) == 3 && weight.size(0) % kLanes == 0 &&
                  weight.scalar_type() == torch::kFloat && weight.device().is_cpu(),
              "winograd_filters: weight ", weight.sizes(), " is not fp32 [C_out, C_in, 3, 3] with C_out a multiple of ",
              kLanes, " on the CPU");
  torch::Tensor filters = torch::empty({kPoints, weight.size(1), weight.size(0)});
  write_filters(weight, filters);
  return filters;
}

torch::Tensor winograd_conv3x3(const torch::Tensor& x, const torch::Tensor& filters, const torch::Tensor& bias,
                               const torch::Tensor& residual, int64_t padding, int64_t tiles_per_chunk) {
  TORCH_CHECK(avx2_fma_available(), "winograd_conv3x3: this CPU lacks AVX2 and FMA");
  TORCH_CHECK(x.dim() == 4 && x.device().is_cpu() && x.scalar_type() == torch::kFloat,
              "winograd_conv3x3: x must be [B, C, H, W] fp32 on the CPU");
  TORCH_CHECK(filters.dim() == 3 && filters.size(0) == kPoints && filters.size(1) == x.size(1) &&
                  filters.scalar_type() == torch::kFloat && filters.is_contiguous(),
              "winograd_conv3x3: filters ", filters.sizes(), " do not fit input channels ", x.size(1));
  TORCH_CHECK(padding == 0 || padding == 1, "winograd_conv3x3: padding ", padding, " is not 0 or 1");
  const int64_t out_height = x.size(2) + 2 * padding - 2, out_width = x.size(3) + 2 * padding - 2;
  TORCH_CHECK(out_height > 0 && out_width > 0, "winograd_conv3x3: input ", x.sizes(), " is smaller than the filter");
  const Geometry g{x.size(2),
                   x.size(3),
                   out_height,
                   out_width,
                   padding,
                   x.size(1),
                   filters.size(2),
                   (out_height + kOut - 1) / kOut,
                   (out_width + kOut - 1) / kOut};
  TORCH_CHECK(g.in % kLanes == 0 && g.out % kLanes == 0, "winograd_conv3x3: channels ", g.in, " -> ", g.out,
              " are not multiples of ", kLanes);
  TORCH_CHECK(!bias.defined() || (bias.numel() == g.out && bias.scalar_type() == torch::kFloat),
              "winograd_conv3x3: bias does not have ", g.out, " fp32 entries");
  const auto channels_last = torch::MemoryFormat::ChannelsLast;
  const torch::Tensor input = x.contiguous(channels_last);
  torch::Tensor y =
      torch::empty({x.size(0), g.out, g.out_height, g.out_width}, x.options().memory_format(channels_last));
  torch::Tensor added;
  if (residual.defined()) {
    TORCH_CHECK(residual.sizes() == y.sizes() && residual.scalar_type() == torch::kFloat, "winograd_conv3x3: residual ",
                residual.sizes(), " is not the output's ", y.sizes());
    added = residual.contiguous(channels_last);
  }
  const torch::Tensor bias_values = bias.defined() ? bias.contiguous() : bias;
  const int64_t tiles = x.size(0) * g.tiles_y * g.tiles_x;
  if (tiles == 0) return y;
  const int64_t threads = at::get_num_threads();
  const int64_t chunk =
      tiles_per_chunk > 0 ? tiles_per_chunk : std::clamp<int64_t>((tiles + threads - 1) / threads, 1, kMaxChunk);
  const int64_t chunks = (tiles + chunk - 1) / chunk;
  const float* in = input.data_ptr<float>();
  const float* bias_data = bias.defined() ? bias_values.data_ptr<float>() : nullptr;
  const float* residual_data = added.defined() ? added.data_ptr<float>() : nullptr;
  float* out = y.data_ptr<float>();
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    // One chunk at a time per thread: its transformed tiles and products stay in that thread's cache.
    for (int64_t index = begin; index < end; ++index) {
      const int64_t first = index * chunk, count = std::min(chunk, tiles - first);
      torch::Tensor u = scratch(Scratch::kTiles, {kPoints, count, g.in});
      torch::Tensor m = scratch(Scratch::kProducts, {kPoints, count, g.out});
      transform_input(in, g, first, count, u.data_ptr<float>());
      at::bmm_out(m, u, filters);
      transform_output(m.data_ptr<float>(), g, first, count, bias_data, residual_data, out);
    }
  });
  return y;
}

bool winograd_available() {
  static const bool available = avx2_fma_available() && !switched_off_by_environment();
  return available;
}

bool winograd_applies(const torch::Tensor& x, const torch::Tensor& weight) {
  const bool gradient_wanted = torch::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad());
  return winograd_available() && !gradient_wanted && x.dim() == 4 && weight.dim() == 4 && weight.size(2) == 3 &&
         weight.size(3) == 3 && x.size(1) == weight.size(1) && x.device().is_cpu() && weight.device().is_cpu() &&
         x.scalar_type() == torch::kFloat && weight.scalar_type() == torch::kFloat && weight.size(0) % kLanes == 0 &&
         weight.size(1) % kLanes == 0 && !at::autocast::is_autocast_enabled(at::kCPU);
}

torch::Tensor conv3x3(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                      const torch::Tensor& residual, int64_t padding) {
  if (!winograd_applies(x, weight) || (padding != 0 && padding != 1)) {
    torch::Tensor y = torch::conv2d(x, weight, bias, 1, padding);
    return residual.defined() ? residual + y : y;
  }
  // The filters are transformed on every call, not kept: they would hold 4x the weights' memory
  // (over a GiB for SD3's VAE), and transforming them costs a few per cent of a 256 x 256 pass.
  torch::Tensor filters = scratch(Scratch::kFilters, {kPoints, weight.size(1), weight.size(0)});
  write_filters(weight, filters);
  return winograd_conv3x3(x, filters, bias, residual, padding);
}

Conv3x3Impl::Conv3x3Impl(int64_t in, int64_t out)
    : torch::nn::Conv2dImpl(torch::nn::Conv2dOptions(in, out, 3).stride(1).padding(1)) {}

torch::Tensor Conv3x3Impl::forward(const torch::Tensor& x, const torch::Tensor& residual) {
  return conv3x3(x, weight, bias, residual, 1);
}

}  // namespace genbox::nn
