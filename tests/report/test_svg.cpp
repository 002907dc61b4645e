#include <doctest/doctest.h>

#include "report/svg.hpp"

using namespace genbox::report;

namespace {
std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}
}  // namespace

TEST_CASE("linear ticks are round multiples of 1, 2 or 5 inside the range") {
  CHECK(linear_ticks(0, 1, 5) == std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1});
  CHECK(linear_ticks(0, 3000, 6) == std::vector<double>{0, 500, 1000, 1500, 2000, 2500, 3000});
  CHECK(linear_ticks(-3, 7, 5) == std::vector<double>{-2, 0, 2, 4, 6});
  CHECK(linear_ticks(2, 2, 5) == std::vector<double>{2});
  // A range far below the precision of its values still ends.
  CHECK(linear_ticks(1e17, 1e17 + 64, 5).size() <= 21);
}

TEST_CASE("log ticks are powers of ten, thinned when there are many") {
  CHECK(log_ticks(0.002, 50) == std::vector<double>{0.01, 0.1, 1, 10});
  CHECK(log_ticks(1, 1e12) == std::vector<double>{1, 1e2, 1e4, 1e6, 1e8, 1e10, 1e12});
}

TEST_CASE("tick labels are short") {
  CHECK(tick_labels({0, 0.2, 0.4, 0.6000000000000001}, false) == std::vector<std::string>{"0", "0.2", "0.4", "0.6"});
  CHECK(tick_labels({0, 5000, 10000, 15000}, false) == std::vector<std::string>{"0", "5k", "10k", "15k"});
  CHECK(tick_labels({0, 1e6, 2.5e6}, false) == std::vector<std::string>{"0", "1M", "2.5M"});
  CHECK(tick_labels({0, 2e-4, 4e-4}, false) == std::vector<std::string>{"0", "2e-4", "4e-4"});
  CHECK(tick_labels({1e-5, 0.01, 1, 1000, 1e5}, true) == std::vector<std::string>{"1e-5", "0.01", "1", "1000", "100k"});
}

TEST_CASE("log scale only for positive values spanning more than two decades") {
  auto curves_with = [](std::vector<double> y) {
    std::vector<double> x(y.size(), 1.0);
    return std::vector<Curve>{{"run", "#000", {x, y}, {}}};
  };
  CHECK(wants_log_scale(curves_with({1000, 50, 9})));
  CHECK_FALSE(wants_log_scale(curves_with({1000, 50, 10})));  // exactly two decades
  CHECK_FALSE(wants_log_scale(curves_with({1000, 0, 9})));
  CHECK_FALSE(wants_log_scale(curves_with({})));
  // The pale raw curve counts too: its extremes are drawn.
  std::vector<Curve> smoothed = curves_with({100, 90});
  smoothed[0].faint = {{1, 2}, {400, 0.5}};
  CHECK(wants_log_scale(smoothed));
}

TEST_CASE("markup escaping") {
  CHECK(escape_markup(R"(<a href="x">'&'</a>)") == "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
}

TEST_CASE("a line plot is one svg element with a path per curve and escaped labels") {
  Plot plot{"train \u00b7 loss<1>", "step", {}};
  plot.curves.push_back({"run <a>", "#4e79a7", {{0, 1, 2}, {3, 2, 1}}, {}});
  Series many;
  for (int i = 0; i < 100; ++i) {
    many.x.push_back(i);
    many.y.push_back(1000.0 / (1 + i));
  }
  plot.curves.push_back({"run b", "#f28e2b", many, many});
  std::string svg = line_plot_svg(plot);

  CHECK(svg.rfind("<svg ", 0) == 0);
  CHECK(svg.size() - svg.rfind("</svg>") == 6);
  CHECK(count(svg, "<svg") == 1);
  // Run a: line and dots (3 points); run b: pale raw, line, no dots (100 points).
  CHECK(count(svg, "<path") == 4);
  CHECK(count(svg, "stroke-opacity=\"0.22\"") == 1);
  CHECK(svg.find("<title>run &lt;a&gt;</title>") != std::string::npos);
  CHECK(svg.find("aria-label=\"train \u00b7 loss&lt;1&gt;\"") != std::string::npos);
  CHECK(svg.find(">log scale<") != std::string::npos);  // 1000 down to 1 is three decades
  CHECK(svg.find(">step</text>") != std::string::npos);
  CHECK(svg.find("http") == std::string::npos);
}

TEST_CASE("a plot of a single point or a constant still has a span") {
  Plot plot{"eval \u00b7 bpd", "step", {{"r", "#000", {{1000}, {2.5}}, {}}}};
  std::string svg = line_plot_svg(plot);
  CHECK(svg.find("nan") == std::string::npos);
  CHECK(svg.find("inf") == std::string::npos);
  CHECK(count(svg, "<path") == 1);  // dots only: one point makes no line
}
