// Line plots drawn as inline SVG: several curves on shared axes with ticks, grid and labels.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "report/series.hpp"

namespace genbox::report {

struct Curve {
  std::string label;  // the curve's tooltip
  std::string color;  // a CSS color
  Series line;        // drawn solid
  Series faint;       // drawn pale behind `line` (the raw values under a smoothed curve); may be empty
};

struct Plot {
  std::string title;
  std::string x_label;
  std::vector<Curve> curves;
};

// About `target` evenly spaced round values (1, 2 or 5 times a power of ten) within [low, high].
std::vector<double> linear_ticks(double low, double high, int target);

// Powers of ten within [low, high] (0 < low < high), every k-th one when there are many.
std::vector<double> log_ticks(double low, double high);

// Short labels for round tick values ("0.25", "1e-5", "20k"). The ticks of a linear axis share one
// suffix (0, 5k, 10k rather than 0, 5000, 10k); a log axis labels each power of ten on its own.
std::vector<std::string> tick_labels(const std::vector<double>& ticks, bool log);

// Log scale when every value is positive and the largest is more than 100 times the smallest:
// a loss falling over decades is otherwise a flat line after its first steps.
bool wants_log_scale(const std::vector<Curve>& curves);

// Text made safe for XML and HTML content and attribute values.
std::string escape_markup(std::string_view text);

// An <svg> element (no XML namespace: it is meant to sit inside HTML) with one path per curve.
std::string line_plot_svg(const Plot& plot);

}  // namespace genbox::report
