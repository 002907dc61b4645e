// Rectangular linear assignment: choose min(N, M) cells of an N x M cost matrix, no two in a row
// or a column, with the smallest total cost (what scipy.optimize.linear_sum_assignment solves).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace genbox::detection {

struct Assignment {
  std::vector<int64_t> rows;     // ascending
  std::vector<int64_t> columns;  // columns[i] is assigned to rows[i]
  double cost = 0;               // the total cost of the chosen cells
};

// cost is row-major rows x columns. Shortest augmenting paths (Jonker & Volgenant 1987, in the
// rectangular form of Crouse 2016): one Dijkstra search over reduced costs per row of the
// shorter side, O(min(N,M)^2 max(N,M)). Either side may be empty. A NaN or infinite cost throws
// std::invalid_argument whose message starts with `context` (e.g. "image 3") when one is given.
Assignment linear_sum_assignment(const std::vector<double>& cost, int64_t rows, int64_t columns,
                                 const std::string& context = "");

// The same for a 2D tensor of any floating dtype and device; it is copied to CPU doubles.
Assignment linear_sum_assignment(const torch::Tensor& cost, const std::string& context = "");

}  // namespace genbox::detection
