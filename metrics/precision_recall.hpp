// Improved precision and recall (Kynkaanniemi et al. 2019, "Improved Precision and Recall Metric
// for Assessing Generative Models"): each set's manifold is the union of balls around its points,
// each reaching that point's k-th nearest neighbour in the set (k = 3). Precision is the share of
// generated points inside the real manifold (fidelity); recall, of real points inside the
// generated one (coverage). As torch-fidelity computes them (metric_prc.py), on Euclidean
// distances by torch::cdist in float32.
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace genbox::metrics {

struct PrecisionRecall {
  double precision = 0, recall = 0;
  int64_t k = 3;
};

// generated [N, D] and real [M, D] features, both with more than k rows. Distance matrices are
// formed in blocks of rows so that memory stays near `block_elements` floats.
PrecisionRecall precision_recall(const torch::Tensor& generated, const torch::Tensor& real, int64_t k = 3,
                                 int64_t block_elements = int64_t(1) << 26);

}  // namespace genbox::metrics
