// The kernel distance of KID (Binkowski et al. 2018, "Demystifying MMD GANs"): the unbiased
// estimate of the squared MMD between two feature sets under the cubic polynomial kernel
// k(x, y) = (x . y / D + 1)^3, averaged over random subsets, as torch-fidelity and clean-fid
// compute it (100 subsets of 1,000 features each by default; fewer when a set is smaller).
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace genbox::metrics {

struct KernelDistance {
  double mean = 0;    // the mean of the subsets' estimates
  double stddev = 0;  // their standard deviation (population: numpy's std, as torch-fidelity reports)
  int64_t subsets = 0, subset_size = 0;
};

// Per subset, m = min(subset_size, N_a, N_b) rows of each set drawn without replacement by a
// generator seeded with `seed`: (sum of k over distinct pairs within a) / (m (m - 1)) + the same
// within b - 2 (mean of k across a and b). In float64.
KernelDistance kernel_distance(const torch::Tensor& features_a, const torch::Tensor& features_b, int64_t subsets = 100,
                               int64_t subset_size = 1000, uint64_t seed = 0);

// The same estimate for one subset pair, every row used: [m, D] and [m, D].
double kernel_distance_of(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace genbox::metrics
