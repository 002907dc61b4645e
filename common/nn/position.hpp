// Fixed sinusoidal encodings of positions on a grid and of diffusion timesteps.
#pragma once

#include <torch/types.h>

namespace genbox::nn {

// [grid_h * grid_w, dim] for tokens in row-major order (token i * grid_w + j sits at row i,
// column j). As in MAE's and DiT's get_2d_sincos_pos_embed, the first dim/2 channels encode the
// column j and the last dim/2 the row i; each half is [sin(p * omega_k), cos(p * omega_k)] for
// k < dim/4 with omega_k = 10000^(-k / (dim/4)). dim must be divisible by 4.
torch::Tensor sincos_2d(int64_t dim, int64_t grid_h, int64_t grid_w);

// [B, dim] for t [B]: [cos(t * f_k), sin(t * f_k)] with f_k = max_period^(-k / (dim/2)),
// k < dim/2, as in DiT (a zero column pads odd dims). The frequencies span periods from 2 pi to
// max_period, so t should live on a scale like [0, 1000], not [0, 1]. Floating t keeps its dtype.
torch::Tensor timestep_embedding(const torch::Tensor& t, int64_t dim, double max_period = 10000);

}  // namespace genbox::nn
