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

// The solver behind linear_sum_assignment for rows <= columns, for callers that solve many
// problems with few rows and many columns (DETR's matcher: its targets as rows, its queries as
// columns): it keeps its buffers between problems and reads rows at any stride, so the caller
// needs neither a copy nor a transpose. Each search scans the columns four at a time (AVX2
// where the CPU has it, chosen at run time) and breaks ties as linear_sum_assignment does.
class RowAssigner {
 public:
  // avx2 = false runs the portable build of the same scan, which gives the same result.
  explicit RowAssigner(bool avx2 = true);

  // The column of each row, for the rows x columns costs whose row i starts at cost + i *
  // row_stride; needs rows <= columns and finite costs (not checked). The result is valid until
  // the next solve.
  const std::vector<int64_t>& solve(const double* cost, int64_t rows, int64_t columns, int64_t row_stride);

  // Whether solve() runs the AVX2 scan.
  bool avx2() const { return avx2_; }

 private:
  // The nearest pending column when several are equally near.
  int64_t nearest_in_pending_order();

  bool avx2_;
  std::vector<double> u_, v_, distance_;  // row and column potentials; path lengths to columns
  // done_ is 0 for a column still pending in the current search and all ones once settled.
  std::vector<int64_t> column_of_row_, row_of_column_, predecessor_, done_;
  std::vector<int64_t> settled_, pending_, slot_;  // settled columns in order; tie-breaking's replay
};

}  // namespace genbox::detection
