#include "report/svg.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace genbox::report {
namespace {

constexpr double kWidth = 480, kHeight = 300;
constexpr double kLeft = 56, kRight = 16, kTop = 30, kBottom = 42;
// Few enough points to mark each one, as an eval curve usually has.
constexpr std::size_t kMarkedPoints = 60;

struct Range {
  double low = std::numeric_limits<double>::infinity();
  double high = -std::numeric_limits<double>::infinity();
  bool empty() const { return low > high; }
  void add(const std::vector<double>& values) {
    for (double v : values) {
      low = std::min(low, v);
      high = std::max(high, v);
    }
  }
};

// Maps data values to pixels along one axis; `low` and `high` are in log10 units on a log axis.
struct Axis {
  double low, high, pixel_low, pixel_high;
  bool log;
  double operator()(double value) const {
    double t = log ? std::log10(value) : value;
    return pixel_low + (t - low) / (high - low) * (pixel_high - pixel_low);
  }
  double value_at(double t) const { return log ? std::pow(10.0, t) : t; }
};

// Widens a degenerate range (one point, or a constant metric) so it still has a visible span.
void ensure_span(double& low, double& high, double log_pad) {
  if (high > low) return;
  double pad = log_pad > 0 ? log_pad : (low != 0 ? std::fabs(low) * 0.1 : 1.0);
  low -= pad;
  high += pad;
}

std::string path_data(const Series& series, const Axis& x, const Axis& y, bool dots) {
  std::string d;
  d.reserve(series.size() * 14);
  for (std::size_t i = 0; i < series.size(); ++i) {
    // A dot is a zero-length segment drawn with a round cap.
    const char* command = dots ? "M" : (i == 0 ? "M" : (i == 1 ? "L" : " "));
    fmt::format_to(std::back_inserter(d), "{}{:.1f} {:.1f}{}", command, x(series.x[i]), y(series.y[i]),
                   dots ? "h0" : "");
  }
  return d;
}

}  // namespace

std::vector<double> linear_ticks(double low, double high, int target) {
  if (!(high > low)) return {low};
  double raw = (high - low) / target;
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double normalized = raw / magnitude;
  double step = (normalized < 1.5 ? 1 : normalized < 3 ? 2 : normalized < 7 ? 5 : 10) * magnitude;
  std::vector<double> ticks;
  // Ticks are whole multiples of the step, so zero is exactly zero. The count is bounded because
  // a range tiny next to its magnitude (1e9 give or take 1e-7) leaves `first + k` inexact.
  double first = std::ceil(low / step - 1e-9);
  for (int k = 0; k <= 4 * target && (first + k) * step <= high + step * 1e-9; ++k) ticks.push_back((first + k) * step);
  return ticks;
}

std::vector<double> log_ticks(double low, double high) {
  int first = static_cast<int>(std::ceil(std::log10(low) - 1e-9));
  int last = static_cast<int>(std::floor(std::log10(high) + 1e-9));
  if (last - first < 1) return linear_ticks(low, high, 5);
  int stride = std::max(1, (last - first + 5) / 6);  // at most seven ticks
  std::vector<double> ticks;
  for (int e = first; e <= last; e += stride) ticks.push_back(std::pow(10.0, e));
  return ticks;
}

std::vector<std::string> tick_labels(const std::vector<double>& ticks, bool log) {
  auto label = [](double value, double largest) {
    if (value == 0) return std::string("0");
    if (largest >= 1e6) return fmt::format("{:g}M", value / 1e6);
    if (largest >= 1e4) return fmt::format("{:g}k", value / 1e3);
    double magnitude = std::fabs(value);
    if (magnitude >= 1e-3) return fmt::format("{:g}", value);
    int exponent = static_cast<int>(std::floor(std::log10(magnitude) + 1e-9));
    return fmt::format("{:g}e{}", value / std::pow(10.0, exponent), exponent);
  };
  double largest = 0;
  for (double tick : ticks) largest = std::max(largest, std::fabs(tick));
  std::vector<std::string> labels;
  for (double tick : ticks) labels.push_back(label(tick, log ? std::fabs(tick) : largest));
  return labels;
}

bool wants_log_scale(const std::vector<Curve>& curves) {
  Range range;
  for (const Curve& curve : curves) {
    range.add(curve.line.y);
    range.add(curve.faint.y);
  }
  return !range.empty() && range.low > 0 && range.high > 100 * range.low;
}

std::string escape_markup(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string line_plot_svg(const Plot& plot) {
  Range x_range, y_range;
  for (const Curve& curve : plot.curves) {
    x_range.add(curve.line.x);
    x_range.add(curve.faint.x);
    y_range.add(curve.line.y);
    y_range.add(curve.faint.y);
  }
  bool log = wants_log_scale(plot.curves);
  if (x_range.empty()) x_range = {0, 1};
  if (y_range.empty()) y_range = {0, 1};
  if (log) y_range = {std::log10(y_range.low), std::log10(y_range.high)};
  ensure_span(x_range.low, x_range.high, 0);
  ensure_span(y_range.low, y_range.high, log ? 0.5 : 0);
  // Headroom so extremes do not sit on the frame.
  double y_pad = 0.04 * (y_range.high - y_range.low);
  Axis x{x_range.low, x_range.high, kLeft, kWidth - kRight, false};
  Axis y{y_range.low - y_pad, y_range.high + y_pad, kHeight - kBottom, kTop, log};

  std::string svg = fmt::format(R"(<svg class="plot" viewBox="0 0 {} {}" role="img" aria-label="{}">)"
                                R"(<text x="{}" y="19" font-size="13" font-weight="600" fill="#222">{}</text>)",
                                kWidth, kHeight, escape_markup(plot.title), kLeft, escape_markup(plot.title));
  if (log)
    svg += fmt::format(R"(<text x="{}" y="19" font-size="10" fill="#888" text-anchor="end">log scale</text>)",
                       kWidth - kRight);

  std::vector<double> y_ticks = log ? log_ticks(y.value_at(y.low), y.value_at(y.high)) : linear_ticks(y.low, y.high, 5);
  std::vector<double> x_ticks = linear_ticks(x.low, x.high, 6);
  std::vector<std::string> y_labels = tick_labels(y_ticks, log);
  std::vector<std::string> x_labels = tick_labels(x_ticks, false);
  std::string grid, labels;
  for (std::size_t i = 0; i < y_ticks.size(); ++i) {
    double py = y(y_ticks[i]);
    fmt::format_to(std::back_inserter(grid), R"(<line x1="{}" y1="{:.1f}" x2="{}" y2="{:.1f}"/>)", kLeft, py,
                   kWidth - kRight, py);
    fmt::format_to(std::back_inserter(labels), R"(<text x="{}" y="{:.1f}" text-anchor="end">{}</text>)", kLeft - 6,
                   py + 3.5, y_labels[i]);
  }
  for (std::size_t i = 0; i < x_ticks.size(); ++i) {
    double px = x(x_ticks[i]);
    fmt::format_to(std::back_inserter(grid), R"(<line x1="{:.1f}" y1="{}" x2="{:.1f}" y2="{}"/>)", px, kTop, px,
                   kHeight - kBottom);
    fmt::format_to(std::back_inserter(labels), R"(<text x="{:.1f}" y="{}" text-anchor="middle">{}</text>)", px,
                   kHeight - kBottom + 14, x_labels[i]);
  }
  svg += R"(<g stroke="#ececec">)" + grid + "</g>";
  svg += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#bbb"/>)", kLeft, kTop,
                     kWidth - kLeft - kRight, kHeight - kTop - kBottom);
  svg += R"(<g font-size="10" fill="#666">)" + labels;
  svg += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle" fill="#444">{}</text></g>)",
                     (kLeft + kWidth - kRight) / 2, kHeight - 8, escape_markup(plot.x_label));

  // Every pale curve first, so no run's raw values cover another run's smoothed curve.
  for (const Curve& curve : plot.curves)
    if (curve.faint.size() > 1)
      svg += fmt::format(R"(<path d="{}" fill="none" stroke="{}" stroke-opacity="0.22" stroke-width="1"/>)",
                         path_data(curve.faint, x, y, false), escape_markup(curve.color));
  for (const Curve& curve : plot.curves) {
    std::string color = escape_markup(curve.color), label = escape_markup(curve.label);
    if (curve.line.size() > 1)
      svg += fmt::format(R"(<path d="{}" fill="none" stroke="{}" stroke-width="1.6" stroke-linejoin="round">)"
                         R"(<title>{}</title></path>)",
                         path_data(curve.line, x, y, false), color, label);
    if (!curve.line.x.empty() && curve.line.size() <= kMarkedPoints)
      svg += fmt::format(R"(<path d="{}" stroke="{}" stroke-width="5" stroke-linecap="round">)"
                         R"(<title>{}</title></path>)",
                         path_data(curve.line, x, y, true), color, label);
  }
  return svg + "</svg>";
}

}  // namespace genbox::report
