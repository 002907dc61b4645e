#include "report/html.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <set>

#include "base/fsutil.hpp"
#include "report/diff.hpp"
#include "report/summary.hpp"
#include "report/svg.hpp"

namespace genbox::report {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

constexpr const char* kStyle = R"(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d1d1f;
  max-width:1500px;margin:24px auto;padding:0 24px}
h1{font-size:21px;margin:0 0 2px}
h2{font-size:16px;margin:30px 0 10px;padding-bottom:4px;border-bottom:1px solid #e4e4e4}
h3{font-size:13px;margin:16px 0 8px;color:#555}
.sub{color:#6e6e73;margin:0 0 18px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:4px 12px 4px 0;border-bottom:1px solid #eee;text-align:left;white-space:nowrap;
  vertical-align:top}
th{font-weight:600;color:#444}
td.num{text-align:right}
td.best{font-weight:700}
td.missing{color:#bbb}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
.legend{display:flex;flex-wrap:wrap;gap:4px 18px;margin:0 0 12px}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(400px,1fr));gap:14px}
.plots svg{width:100%;height:auto;border:1px solid #ececec;border-radius:6px;background:#fff}
.status-finished{color:#2e7d32}.status-running{color:#1565c0}
.status-failed{color:#c62828}.status-interrupted{color:#e65100}
.status-crashed{color:#c62828;font-weight:bold}.status-stale{color:#6d4c41}
.samples{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
figure{margin:0}
figure img{display:block;width:280px;image-rendering:pixelated;border:1px solid #ececec}
figcaption{font-size:12px;color:#555;margin-top:4px;max-width:280px;overflow-wrap:anywhere}
.warnings{background:#fff8e1;color:#7a4a00;padding:8px 14px;border-radius:6px}
details{margin-top:10px}summary{cursor:pointer;color:#555}
code{font-size:12px}
)";

// A run keeps its color in every plot and table: Tableau 10, then golden-angle hues for any run
// past the tenth.
std::string color_for(std::size_t index) {
  static const char* const palette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                        "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
  if (index < std::size(palette)) return palette[index];
  return fmt::format("hsl({:.0f},60%,45%)", std::fmod(static_cast<double>(index) * 137.508, 360.0));
}

std::string swatch(std::size_t run_index) {
  return fmt::format(R"(<span class="swatch" style="background:{}"></span>)", color_for(run_index));
}

std::string run_header_cells(const std::vector<Run>& runs) {
  std::string cells;
  for (std::size_t i = 0; i < runs.size(); ++i) cells += "<th>" + swatch(i) + escape_markup(runs[i].label) + "</th>";
  return cells;
}

std::string cell_html(const Cell& cell, bool best) {
  if (cell.missing()) return R"(<td class="missing">&ndash;</td>)";
  const char* cls = cell.number ? (best ? R"( class="num best")" : R"( class="num")") : "";
  return fmt::format("<td{}>{}</td>", cls, escape_markup(display_text(cell)));
}

// The best value of a score column, when at least two runs have one to compare.
std::optional<double> best_in_column(const Table& table, std::size_t column) {
  Better better = table.columns[column].better;
  if (better == Better::none) return std::nullopt;
  std::optional<double> best;
  std::size_t values = 0;
  for (const auto& row : table.rows) {
    if (!row[column].number) continue;
    double v = *row[column].number;
    ++values;
    if (better == Better::higher ? v > best.value_or(-kInfinity) : v < best.value_or(kInfinity)) best = v;
  }
  return values >= 2 ? best : std::nullopt;
}

// Run and status get their color; each score column marks its best run.
std::string summary_section(const std::vector<Run>& runs) {
  Table table = summary_table(runs, {});
  std::vector<std::optional<double>> best;
  for (std::size_t c = 0; c < table.columns.size(); ++c) best.push_back(best_in_column(table, c));
  std::string html = R"(<section><h2>Runs</h2><div class="scroll"><table><thead><tr>)";
  for (const Column& column : table.columns) html += "<th>" + escape_markup(column.title) + "</th>";
  html += "</tr></thead><tbody>";
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    const auto& row = table.rows[r];
    // summary_table() starts with run, experiment and status.
    html += "<tr><td>" + swatch(r) + escape_markup(row[0].text) + "</td>";
    html += "<td>" + escape_markup(row[1].text) + "</td>";
    html += fmt::format(R"(<td class="status-{0}">{0}</td>)", escape_markup(row[2].text));
    for (std::size_t c = 3; c < row.size(); ++c) html += cell_html(row[c], best[c] && row[c].number == best[c]);
    html += "</tr>";
  }
  html +=
      "</tbody></table></div><details><summary>Run details</summary><div class=\"scroll\"><table>"
      "<thead><tr><th>run</th><th>path</th><th>command</th><th>git commit</th><th>device</th>"
      "<th>started</th><th>finished</th></tr></thead><tbody>";
  for (std::size_t r = 0; r < runs.size(); ++r) {
    const Run& run = runs[r];
    html += "<tr><td>" + swatch(r) + escape_markup(run.label) + "</td>";
    for (const std::string* field : {&run.dir.native(), &run.meta.command, &run.meta.git_commit, &run.meta.device,
                                     &run.meta.started, &run.meta.finished})
      html += "<td><code>" + escape_markup(*field) + "</code></td>";
    html += "</tr>";
  }
  return html + "</tbody></table></div></details></section>";
}

struct TimeUnit {
  double seconds;
  const char* name;
};

// One unit for every plot, chosen by the longest run, so curves compare across plots.
TimeUnit time_unit(const std::vector<Run>& runs) {
  double longest = 0;
  for (const Run& run : runs)
    for (const auto& entry : run.metrics.splits)
      for (double t : entry.second.time_s)
        if (std::isfinite(t)) longest = std::max(longest, t);
  if (longest >= 3 * 3600) return {3600, "h"};
  if (longest >= 180) return {60, "min"};
  return {1, "s"};
}

std::string curves_section(const std::vector<Run>& runs, const ReportOptions& options) {
  std::vector<SharedMetric> shared = shared_metrics(runs);
  std::string html = "<section><h2>Curves</h2>";
  if (shared.empty()) return html + "<p>No metric is logged by all of these runs yet.</p></section>";

  TimeUnit unit = time_unit(runs);
  std::string x_label = options.x_axis == XAxis::step ? "step" : fmt::format("wall time ({})", unit.name);
  html += R"(<div class="legend">)";
  for (std::size_t i = 0; i < runs.size(); ++i) html += "<span>" + swatch(i) + escape_markup(runs[i].label) + "</span>";
  html += R"(</div><div class="plots">)";
  for (const SharedMetric& shared_metric : shared) {
    Plot plot{shared_metric.split + " \u00b7 " + shared_metric.metric, x_label, {}};
    for (std::size_t i = 0; i < runs.size(); ++i) {
      auto rows = runs[i].metrics.splits.find(shared_metric.split);
      if (rows == runs[i].metrics.splits.end()) continue;
      Series raw = metric_series(rows->second, shared_metric.metric, options.x_axis);
      if (options.x_axis == XAxis::time)
        for (double& x : raw.x) x /= unit.seconds;
      Curve curve{runs[i].label, color_for(i), {}, {}};
      if (options.smoothing > 0) {
        curve.line = thin_keeping_extremes(ema(raw, options.smoothing), options.max_points);
        curve.faint = thin_keeping_extremes(raw, options.max_points);
      } else {
        curve.line = thin_keeping_extremes(raw, options.max_points);
      }
      plot.curves.push_back(std::move(curve));
    }
    html += line_plot_svg(plot);
  }
  return html + "</div></section>";
}

// Rows are keys, columns are runs: config keys and eval results are read down, not across.
std::string keyed_table(const std::vector<Run>& runs, const std::vector<std::string>& keys,
                        const std::function<Cell(const Run&, const std::string&)>& cell_of) {
  std::string html =
      R"(<div class="scroll"><table><thead><tr><th>key</th>)" + run_header_cells(runs) + "</tr></thead><tbody>";
  for (const std::string& key : keys) {
    html += "<tr><th>" + escape_markup(key) + "</th>";
    for (const Run& run : runs) html += cell_html(cell_of(run, key), false);
    html += "</tr>";
  }
  return html + "</tbody></table></div>";
}

std::string config_section(const std::vector<Run>& runs) {
  std::vector<const FlatConfig*> configs;
  for (const Run& run : runs) configs.push_back(&run.config);
  // With one run there is nothing to differ from, so its whole config is the useful view.
  std::vector<std::string> keys;
  if (runs.size() == 1)
    for (const auto& entry : runs[0].config) keys.push_back(entry.first);
  else
    keys = differing_keys(configs);
  std::string html = runs.size() == 1 ? "<section><h2>Config</h2>" : "<section><h2>Config differences</h2>";
  if (keys.empty()) return html + "<p>All runs have the same config.</p></section>";
  return html +
         keyed_table(runs, keys,
                     [](const Run& run, const std::string& key) {
                       auto found = run.config.find(key);
                       return found == run.config.end() ? Cell{} : Cell::of(found->second);
                     }) +
         "</section>";
}

std::string eval_section(const std::vector<Run>& runs) {
  std::set<std::string> keys;
  for (const Run& run : runs)
    for (const auto& entry : run.eval) keys.insert(entry.first);
  if (keys.empty()) return {};
  return "<section><h2>Eval results <small>(eval.json)</small></h2>" +
         keyed_table(runs, {keys.begin(), keys.end()},
                     [](const Run& run, const std::string& key) {
                       auto found = run.eval.find(key);
                       return found == run.eval.end() ? Cell{} : found->second;
                     }) +
         "</section>";
}

std::string figure(std::size_t run_index, const Run& run, const SampleImage& image, const std::string& caption) {
  std::string label = swatch(run_index) + escape_markup(run.label) + "<br>" + escape_markup(caption);
  try {
    return fmt::format(R"(<figure><img alt="{}" src="data:image/png;base64,{}">)"
                       R"(<figcaption>{}</figcaption></figure>)",
                       escape_markup(run.label + " " + caption), base64_encode(read_file(image.path)), label);
  } catch (const std::exception& e) {
    return fmt::format("<figure><figcaption>{}<br>{}</figcaption></figure>", label, escape_markup(e.what()));
  }
}

const SampleImage* grid_to_show(const Run& run, std::optional<std::int64_t> at_step) {
  const SampleImage* chosen = nullptr;
  for (const SampleImage& image : run.samples)
    if (image.step && (!at_step || *image.step <= *at_step)) chosen = &image;
  return chosen;
}

std::string samples_section(const std::vector<Run>& runs, const ReportOptions& options) {
  std::string grids;
  std::map<std::string, std::vector<std::pair<std::size_t, const SampleImage*>>> extras;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (const SampleImage* grid = grid_to_show(runs[i], options.samples_step))
      grids += figure(i, runs[i], *grid, fmt::format("step {}", *grid->step));
    for (const SampleImage& image : runs[i].samples)
      if (!image.step) extras[image.path.filename().string()].emplace_back(i, &image);
  }
  if (grids.empty() && extras.empty()) return {};
  std::string html = "<section><h2>Samples</h2>";
  if (!grids.empty()) {
    html += "<h3>" +
            (options.samples_step ? fmt::format("Latest grid at or before step {}", *options.samples_step)
                                  : std::string("Latest grid of each run")) +
            R"(</h3><div class="samples">)" + grids + "</div>";
  }
  for (const auto& [name, images] : extras) {
    html += "<h3>" + escape_markup(name) + R"(</h3><div class="samples">)";
    for (const auto& [run_index, image] : images) html += figure(run_index, runs[run_index], *image, name);
    html += "</div>";
  }
  return html + "</section>";
}

}  // namespace

std::vector<SharedMetric> shared_metrics(const std::vector<Run>& runs) {
  std::map<std::string, std::map<std::string, std::size_t>> runs_with_metric;  // split -> metric
  std::map<std::string, std::size_t> runs_with_split;
  for (const Run& run : runs)
    for (const auto& [split, rows] : run.metrics.splits) {
      if (rows.size() == 0) continue;
      ++runs_with_split[split];
      for (const auto& entry : rows.values) ++runs_with_metric[split][entry.first];
    }

  auto split_rank = [](const std::string& split) { return split == kEvalSplit ? 0 : split == "train" ? 1 : 2; };
  std::vector<std::string> splits;
  for (const auto& entry : runs_with_split) splits.push_back(entry.first);
  std::stable_sort(splits.begin(), splits.end(),
                   [&](const std::string& a, const std::string& b) { return split_rank(a) < split_rank(b); });

  std::vector<SharedMetric> shared;
  for (const std::string& split : splits)
    for (const auto& [metric, count] : runs_with_metric[split])
      if (count == runs_with_split[split]) shared.push_back({split, metric});
  return shared;
}

std::string base64_encode(std::string_view bytes) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    auto b = [&](std::size_t k) { return static_cast<unsigned>(static_cast<unsigned char>(bytes[i + k])); };
    unsigned triple = b(0) << 16 | b(1) << 8 | b(2);
    for (int shift : {18, 12, 6, 0}) out += alphabet[(triple >> shift) & 63];
  }
  if (std::size_t rest = bytes.size() - i; rest > 0) {
    unsigned triple = static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16;
    if (rest == 2) triple |= static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out += alphabet[(triple >> 18) & 63];
    out += alphabet[(triple >> 12) & 63];
    out += rest == 2 ? alphabet[(triple >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string html_report(const std::vector<Run>& runs, const ReportOptions& options) {
  std::set<std::string> experiments;
  std::vector<std::string> warnings;
  for (const Run& run : runs) {
    experiments.insert(run.meta.experiment);
    warnings.insert(warnings.end(), run.warnings.begin(), run.warnings.end());
  }
  std::string subtitle = fmt::format("{} \u00b7 x by {}", fmt::join(experiments, ", "),
                                     options.x_axis == XAxis::step ? "step" : "wall time");
  if (options.smoothing > 0) subtitle += fmt::format(" \u00b7 EMA smoothing {}", options.smoothing);

  std::string html = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
      "<title>compare: {} run{}</title><style>{}</style></head><body>"
      "<h1>{} run{}</h1><p class=\"sub\">{}</p>",
      runs.size(), runs.size() == 1 ? "" : "s", kStyle, runs.size(), runs.size() == 1 ? "" : "s",
      escape_markup(subtitle));
  if (!warnings.empty()) {
    html += R"(<div class="warnings">)";
    for (const std::string& warning : warnings) html += "<div>" + escape_markup(warning) + "</div>";
    html += "</div>";
  }
  html += summary_section(runs);
  html += curves_section(runs, options);
  html += config_section(runs);
  html += eval_section(runs);
  html += samples_section(runs, options);
  return html + "</body></html>\n";
}

}  // namespace genbox::report
