// Fixed sinusoidal encodings of positions on a grid, of pixels inside a padded batch, and of
// diffusion timesteps.
#pragma once

#include <torch/types.h>

namespace genbox::nn {

// [grid_h * grid_w, dim] for tokens in row-major order (token i * grid_w + j sits at row i,
// column j). As in MAE's and DiT's get_2d_sincos_pos_embed, the first dim/2 channels encode the
// column j and the last dim/2 the row i; each half is [sin(p * omega_k), cos(p * omega_k)] for
// k < dim/4 with omega_k = 10000^(-k / (dim/4)). dim must be divisible by 4.
torch::Tensor sincos_2d(int64_t dim, int64_t grid_h, int64_t grid_w);

// DETR's sine encoding of the pixels of a zero-padded batch: padding_mask [B, H, W] bool, true
// where a pixel is padding, each image's valid pixels forming its top-left corner. Returns
// [B, dim, H, W] float: the first dim/2 channels encode the row, the last dim/2 the column, each
// as interleaved [sin(p / T^(2k/(dim/2))), cos(...)] for k < dim/4, where the row of a valid pixel
// is p = 2 pi * (cumulative count of valid pixels down its column) / (valid height), and likewise
// for the column. Normalising by the valid extent makes every valid pixel's encoding equal to
// that of the same pixel in the unpadded image; padded pixels get zeros. dim must be divisible
// by 4; T is the temperature.
torch::Tensor sine_position_2d(const torch::Tensor& padding_mask, int64_t dim, double temperature = 10000);

// [B, dim] for t [B]: [cos(t * f_k), sin(t * f_k)] with f_k = max_period^(-k / (dim/2)),
// k < dim/2, as in DiT (a zero column pads odd dims). The frequencies span periods from 2 pi to
// max_period, so t should live on a scale like [0, 1000], not [0, 1]. Floating t keeps its dtype.
torch::Tensor timestep_embedding(const torch::Tensor& t, int64_t dim, double max_period = 10000);

}  // namespace genbox::nn
