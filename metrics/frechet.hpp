// The Frechet distance between Gaussians fitted to two sets of features (the FID formula of
// Heusel et al. 2017, here over any feature extractor's outputs).
#pragma once

#include <torch/types.h>

namespace genbox::metrics {

// The symmetric positive semi-definite square root of a symmetric matrix, by eigendecomposition;
// eigenvalues that rounding pushed below zero count as zero.
torch::Tensor sqrtm_psd(const torch::Tensor& a);

// |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2), in float64. The bracketed
// product is symmetric PSD and has the same trace of square root as (S_a S_b)^1/2, so no
// general (non-symmetric) matrix square root is needed.
double frechet_distance_from_moments(const torch::Tensor& mu_a, const torch::Tensor& cov_a, const torch::Tensor& mu_b,
                                     const torch::Tensor& cov_b);

// Features [N, D]: means and unbiased covariances of each set, then the distance above.
double frechet_distance(const torch::Tensor& features_a, const torch::Tensor& features_b);

}  // namespace genbox::metrics
