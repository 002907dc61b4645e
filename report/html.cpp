#include "report/html.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <set>

#include "base/fsutil.hpp"
#include "report/diff.hpp"
#include "report/html_script.hpp"
#include "report/runs_group.hpp"
#include "report/summary.hpp"
#include "report/svg.hpp"
#include "report/table_experiment.hpp"

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
.sweep{color:#555;margin:0 0 8px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:4px 12px 4px 0;border-bottom:1px solid #eee;text-align:left;white-space:nowrap;
  vertical-align:top}
th{font-weight:600;color:#444}
td.num{text-align:right}
td.best{font-weight:700}
td.missing{color:#bbb}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
h2 small,h3 small{font-weight:400;color:#888}
section.experiment{border-top:3px solid #e4e4e4;margin-top:28px}
table.sortable th{cursor:pointer}th[aria-sort=ascending]::after{content:" \25b2"}
th[aria-sort=descending]::after{content:" \25bc"}
.legend{display:flex;flex-wrap:wrap;gap:4px 8px;margin:0 0 12px}
.legend button{font:inherit;background:#fff;border:1px solid #ddd;border-radius:4px;padding:1px 8px;cursor:pointer}
.legend button.off{opacity:.4;text-decoration:line-through}
.controls{color:#555;font-size:13px}.controls .hint{color:#999}
.sticky{position:sticky;top:0;background:#fff;padding:6px 0;z-index:2;border-bottom:1px solid #eee}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(400px,1fr));gap:14px}
.plot{position:relative}
.plots svg{width:100%;height:auto;border:1px solid #ececec;border-radius:6px;background:#fff;user-select:none}
.tip{position:absolute;background:rgba(255,255,255,.95);border:1px solid #ccc;border-radius:4px;padding:4px 8px;
  font-size:12px;pointer-events:none;white-space:nowrap;z-index:3}.tip .at{color:#999}
.status-finished{color:#2e7d32}.status-running{color:#1565c0}
.status-failed{color:#c62828}.status-interrupted{color:#e65100}
.status-crashed{color:#c62828;font-weight:bold}.status-stale{color:#6d4c41}
.samples{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
figure{margin:0}
figure img{display:block;width:280px;image-rendering:pixelated;border:1px solid #ececec;cursor:zoom-in}
#lightbox{position:fixed;inset:0;background:rgba(0,0,0,.82);display:flex;flex-direction:column;
  align-items:center;justify-content:center;z-index:9;cursor:zoom-out}#lightbox[hidden]{display:none}
#lightbox img{image-rendering:pixelated;background:#fff}#lightbox .caption{color:#eee;margin-top:8px}
#selftest:empty{display:none}
figcaption{font-size:12px;color:#555;margin-top:4px;max-width:280px;overflow-wrap:anywhere}
.warnings{background:#fff8e1;color:#7a4a00;padding:8px 14px;border-radius:6px}
details{margin-top:10px}summary{cursor:pointer;color:#555}
code{font-size:12px}
)";

// A run keeps its color in every plot and table of its experiment: Tableau 10, then golden-angle
// hues for any run past the tenth.
std::string color_for(std::size_t index) {
  static const char* const palette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                        "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
  if (index < std::size(palette)) return palette[index];
  return fmt::format("hsl({:.0f},60%,45%)", std::fmod(static_cast<double>(index) * 137.508, 360.0));
}

std::string swatch(std::size_t run_index) {
  return fmt::format(R"(<span class="swatch" style="background:{}"></span>)", color_for(run_index));
}

// A run as the report names it: its label within the experiment, the directory on hover.
std::string run_name_html(const Run& run, const std::string& label, std::size_t index) {
  return fmt::format(R"({}<span title="{}">{}</span>)", swatch(index), escape_markup(run.label), escape_markup(label));
}

std::string cell_html(const Cell& cell, bool best) {
  if (cell.missing()) return R"(<td class="missing">&ndash;</td>)";
  if (!cell.number) return "<td>" + escape_markup(display_text(cell)) + "</td>";
  return fmt::format(R"(<td class="num{}" data-v="{}">{}</td>)", best ? " best" : "", *cell.number,
                     escape_markup(display_text(cell)));
}

// The best value of a score column, when at least two runs have one to compare and they differ.
std::optional<double> best_in_column(const Table& table, std::size_t column) {
  Better better = table.columns[column].better;
  if (better == Better::none) return std::nullopt;
  std::optional<double> best, worst;
  std::size_t values = 0;
  for (const auto& row : table.rows) {
    if (!row[column].number) continue;
    double v = *row[column].number;
    ++values;
    if (better == Better::higher ? v > best.value_or(-kInfinity) : v < best.value_or(kInfinity)) best = v;
    if (better == Better::higher ? v < worst.value_or(kInfinity) : v > worst.value_or(-kInfinity)) worst = v;
  }
  return values >= 2 && best != worst ? best : std::nullopt;
}

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\')
      out += {'\\', c};
    else if (c == '<')
      out += "\\u003c";  // never "</script>" inside the data block
    else if (static_cast<unsigned char>(c) < 0x20)
      out += fmt::format("\\u{:04x}", c);
    else
      out += c;
  }
  return out + "\"";
}

std::string json_number(double value) { return std::isfinite(value) ? fmt::format("{:.7g}", value) : "null"; }

// The group's runs table: every column of experiment_table(), sortable, best marked within it.
std::string runs_table(const std::vector<Run>& runs, const ExperimentGroup& group) {
  Table table = experiment_table(runs, group);
  std::vector<std::optional<double>> best;
  for (std::size_t c = 0; c < table.columns.size(); ++c) best.push_back(best_in_column(table, c));
  std::string html = R"(<div class="scroll"><table class="sortable runs"><thead><tr>)";
  for (const Column& column : table.columns)
    html += fmt::format(R"(<th title="{}; click to sort">{}</th>)", escape_markup(column.csv_title),
                        escape_markup(column.title));
  html += "</tr></thead><tbody>";
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    const auto& row = table.rows[r];
    // experiment_table() starts with run and status.
    html += fmt::format(R"(<tr><td data-v="{}">{}</td>)", r, run_name_html(runs[group.runs[r]], row[0].text, r));
    html += fmt::format(R"(<td class="status-{0}">{0}</td>)", escape_markup(row[1].text));
    for (std::size_t c = 2; c < row.size(); ++c) html += cell_html(row[c], best[c] && row[c].number == best[c]);
    html += "</tr>";
  }
  return html + "</tbody></table></div>";
}

std::string run_details(const std::vector<Run>& runs, const ExperimentGroup& group) {
  std::string html =
      "<details><summary>Run details</summary><div class=\"scroll\"><table>"
      "<thead><tr><th>run</th><th>path</th><th>command</th><th>git commit</th><th>device</th>"
      "<th>started</th><th>finished</th></tr></thead><tbody>";
  for (std::size_t r = 0; r < group.runs.size(); ++r) {
    const Run& run = runs[group.runs[r]];
    html += "<tr><td>" + run_name_html(run, group.labels[r], r) + "</td>";
    for (const std::string* field : {&run.dir.native(), &run.meta.command, &run.meta.git_commit, &run.meta.device,
                                     &run.meta.started, &run.meta.finished})
      html += "<td><code>" + escape_markup(*field) + "</code></td>";
    html += "</tr>";
  }
  return html + "</tbody></table></div></details>";
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

// One plotted metric of one run: its finite values, thinned, with both possible x axes.
struct PlottedCurve {
  std::vector<double> step, time, y;
};

PlottedCurve plotted_curve(const MetricRows& rows, const std::string& metric, std::size_t max_points) {
  PlottedCurve all;
  auto column = rows.values.find(metric);
  if (column == rows.values.end()) return all;
  for (std::size_t i = 0; i < rows.size(); ++i)
    if (std::isfinite(column->second[i])) {
      all.step.push_back(static_cast<double>(rows.step[i]));
      all.time.push_back(rows.time_s[i]);
      all.y.push_back(column->second[i]);
    }
  PlottedCurve thinned;
  for (std::size_t i : extreme_keeping_indices(all.y, max_points)) {
    thinned.step.push_back(all.step[i]);
    thinned.time.push_back(all.time[i]);
    thinned.y.push_back(all.y[i]);
  }
  return thinned;
}

std::string json_array(const std::vector<double>& values) {
  std::string out = "[";
  for (std::size_t i = 0; i < values.size(); ++i) out += (i ? "," : "") + json_number(values[i]);
  return out + "]";
}

// Collects the plots' data for the script while the page is written.
struct PlotData {
  std::vector<std::string> plots;  // each a JSON object
};

std::string legend(const std::vector<Run>& runs, const ExperimentGroup& group, std::size_t group_index) {
  std::string html = R"(<div class="legend">)";
  for (std::size_t r = 0; r < group.runs.size(); ++r)
    html +=
        fmt::format(R"(<button type="button" data-toggle="{}:{}" title="{}; click to hide">{}{}</button>)", group_index,
                    r, escape_markup(runs[group.runs[r]].label), swatch(r), escape_markup(group.labels[r]));
  return html + "</div>";
}

std::string curves_html(const std::vector<Run>& runs, const ExperimentGroup& group, std::size_t group_index,
                        const ReportOptions& options, const TimeUnit& unit, PlotData& data) {
  std::vector<Run> members;
  for (std::size_t i : group.runs) members.push_back(runs[i]);
  std::vector<SharedMetric> plotted = plotted_metrics(members);
  if (plotted.empty()) return "<p>No metrics logged yet.</p>";

  std::string html = legend(runs, group, group_index) + R"(<div class="plots">)";
  std::string x_label = options.x_axis == XAxis::step ? "step" : fmt::format("wall time ({})", unit.name);
  for (const SharedMetric& metric : plotted) {
    Plot plot{metric.split + " \u00b7 " + metric.metric, x_label, {}};
    std::string curves_json;
    for (std::size_t r = 0; r < members.size(); ++r) {
      auto rows = members[r].metrics.splits.find(metric.split);
      if (rows == members[r].metrics.splits.end()) continue;
      PlottedCurve curve = plotted_curve(rows->second, metric.metric, options.max_points);
      if (curve.y.empty()) continue;
      Curve drawn{group.labels[r], color_for(r), {}, {}};
      drawn.line.y = curve.y;
      drawn.line.x = options.x_axis == XAxis::step ? curve.step : curve.time;
      if (options.x_axis == XAxis::time)
        for (double& x : drawn.line.x) x /= unit.seconds;
      if (options.smoothing > 0) {
        drawn.faint = drawn.line;
        drawn.line = ema(drawn.line, options.smoothing);
      }
      plot.curves.push_back(std::move(drawn));
      curves_json +=
          fmt::format(R"({}{{"run":{},"label":{},"color":{},"step":{},"time":{},"y":{}}})",
                      curves_json.empty() ? "" : ",", r, json_string(group.labels[r]), json_string(color_for(r)),
                      json_array(curve.step), json_array(curve.time), json_array(curve.y));
    }
    bool log = wants_log_scale(plot.curves);
    html += fmt::format(R"(<div class="plot" data-plot="{}">{}</div>)", data.plots.size(), line_plot_svg(plot));
    data.plots.push_back(fmt::format(R"({{"group":{},"title":{},"log":{},"curves":[{}]}})", group_index,
                                     json_string(plot.title), log ? "true" : "false", curves_json));
  }
  return html + "</div>";
}

// Rows are keys, columns are the group's runs: config keys and eval results read down. The best
// run is marked in the rows `marks_best` picks.
std::string keyed_table(const std::vector<Run>& runs, const ExperimentGroup& group,
                        const std::vector<std::string>& keys,
                        const std::function<Cell(const Run&, const std::string&)>& cell_of,
                        const std::function<bool(const std::string&)>& marks_best) {
  std::string html = R"(<div class="scroll"><table><thead><tr><th>key</th>)";
  for (std::size_t r = 0; r < group.runs.size(); ++r)
    html += "<th>" + run_name_html(runs[group.runs[r]], group.labels[r], r) + "</th>";
  html += "</tr></thead><tbody>";
  for (const std::string& key : keys) {
    std::vector<Cell> cells;
    for (std::size_t i : group.runs) cells.push_back(cell_of(runs[i], key));
    std::optional<double> best;
    if (marks_best(key)) {
      Table row{{{key, key, higher_is_better(key) ? Better::higher : Better::lower}}, {}};
      for (const Cell& cell : cells) row.rows.push_back({cell});
      best = best_in_column(row, 0);
    }
    html += "<tr><th>" + escape_markup(key) + "</th>";
    for (const Cell& cell : cells) html += cell_html(cell, best && cell.number == best);
    html += "</tr>";
  }
  return html + "</tbody></table></div>";
}

std::string config_html(const std::vector<Run>& runs, const ExperimentGroup& group) {
  std::set<std::string> all;
  for (std::size_t i : group.runs)
    for (const auto& entry : runs[i].config) all.insert(entry.first);
  auto value = [](const Run& run, const std::string& key) {
    auto found = run.config.find(key);
    return found == run.config.end() ? Cell{} : Cell::of(found->second);
  };
  auto no_best = [](const std::string&) { return false; };
  std::string html;
  if (group.runs.size() > 1) {
    html += "<h3>Config differences</h3>";
    html += group.differing_keys.empty() ? "<p>All runs have the same config.</p>"
                                         : keyed_table(runs, group, group.differing_keys, value, no_best);
  }
  return html + fmt::format("<details><summary>Whole config ({} keys)</summary>", all.size()) +
         keyed_table(runs, group, {all.begin(), all.end()}, value, no_best) + "</details>";
}

// Fields that say which row of an eval.json table this is rather than what was measured, in the
// order they lead the table (COCO's id before the category's name; sampler steps before guidance).
constexpr const char* kRowFields[] = {"id", "name", "category", "class", "step", "steps", "guidance"};

std::size_t row_field_rank(const std::string& field) {
  return static_cast<std::size_t>(std::find(std::begin(kRowFields), std::end(kRowFields), field) -
                                  std::begin(kRowFields));
}

bool identifies_row(const std::string& field) { return row_field_rank(field) < std::size(kRowFields); }

std::string cell_key(const Cell& cell) { return cell.number ? fmt::format("{}", *cell.number) : cell.text; }

// An array of objects in eval.json (the DiT's sweep over steps x guidance, DETR's AP per
// category) as one table: the identifying fields, then each measured field once per run.
std::string eval_table_html(const std::vector<Run>& runs, const ExperimentGroup& group, const std::string& name,
                            const std::function<bool(const std::string&)>& marks_best) {
  std::vector<std::string> identity, measured;
  auto add = [](std::vector<std::string>& fields, const std::string& field) {
    if (std::find(fields.begin(), fields.end(), field) == fields.end()) fields.push_back(field);
  };
  // Rows by their identifying values, in the order first seen; cells by run.
  std::vector<std::vector<Cell>> ids;
  std::map<std::vector<std::string>, std::size_t> row_of;
  std::map<std::pair<std::size_t, std::size_t>, const std::map<std::string, Cell>*> entries;  // (row, run)
  for (std::size_t r = 0; r < group.runs.size(); ++r) {
    auto table = runs[group.runs[r]].eval_tables.find(name);
    if (table == runs[group.runs[r]].eval_tables.end()) continue;
    for (const auto& object : table->second)
      for (const auto& entry : object) add(identifies_row(entry.first) ? identity : measured, entry.first);
  }
  std::sort(identity.begin(), identity.end(),
            [](const std::string& a, const std::string& b) { return row_field_rank(a) < row_field_rank(b); });
  for (std::size_t r = 0; r < group.runs.size(); ++r) {
    auto table = runs[group.runs[r]].eval_tables.find(name);
    if (table == runs[group.runs[r]].eval_tables.end()) continue;
    for (const auto& object : table->second) {
      std::vector<std::string> key;
      std::vector<Cell> id_cells;
      for (const std::string& field : identity) {
        auto found = object.find(field);
        id_cells.push_back(found == object.end() ? Cell{} : found->second);
        key.push_back(cell_key(id_cells.back()));
      }
      auto [at, inserted] = row_of.emplace(key, ids.size());
      if (inserted) ids.push_back(std::move(id_cells));
      entries[{at->second, r}] = &object;
    }
  }

  bool several = group.runs.size() > 1;
  std::string html = "<h3>" + escape_markup(name) + R"(</h3><div class="scroll"><table class="sortable"><thead><tr>)";
  for (const std::string& field : identity) html += "<th>" + escape_markup(field) + "</th>";
  for (const std::string& field : measured)
    for (std::size_t r = 0; r < group.runs.size(); ++r)
      html += "<th>" + escape_markup(field) +
              (several ? "<br>" + run_name_html(runs[group.runs[r]], group.labels[r], r) : "") + "</th>";
  html += "</tr></thead><tbody>";
  for (std::size_t row = 0; row < ids.size(); ++row) {
    html += "<tr>";
    for (const Cell& cell : ids[row]) html += cell_html(cell, false);
    for (const std::string& field : measured) {
      Table across{{{field, field, higher_is_better(field) ? Better::higher : Better::lower}}, {}};
      for (std::size_t r = 0; r < group.runs.size(); ++r) {
        auto entry = entries.find({row, r});
        const std::map<std::string, Cell>* object = entry == entries.end() ? nullptr : entry->second;
        auto found = object ? object->find(field) : std::map<std::string, Cell>::const_iterator{};
        across.rows.push_back({object && found != object->end() ? found->second : Cell{}});
      }
      std::optional<double> best = marks_best(field) ? best_in_column(across, 0) : std::nullopt;
      for (const auto& cells : across.rows) html += cell_html(cells[0], best && cells[0].number == best);
    }
    html += "</tr>";
  }
  return html + "</tbody></table></div>";
}

// Whether a value in eval.json is a score to mark the best of, rather than a count or a setting
// (test_examples, steps): the eval metrics the group logs, and names that read as scores.
bool is_score(const std::string& key, const std::vector<std::string>& eval_metrics) {
  if (higher_is_better(key) || std::find(eval_metrics.begin(), eval_metrics.end(), key) != eval_metrics.end())
    return true;
  for (std::string lower : {"loss", "bpd", "nll", "fd", "fid", "kid"})
    if (key == lower ||
        (key.size() > lower.size() && key.compare(key.size() - lower.size() - 1, std::string::npos, "_" + lower) == 0))
      return true;
  return false;
}

// eval.json: the scores first (its numbers), then its tables, then what it says about the
// evaluation itself (its text: checkpoint, dataset, files written) folded away.
std::string eval_html(const std::vector<Run>& runs, const ExperimentGroup& group) {
  std::set<std::string> numbers, texts, tables;
  for (std::size_t i : group.runs) {
    for (const auto& [key, cell] : runs[i].eval) (cell.number ? numbers : texts).insert(key);
    for (const auto& entry : runs[i].eval_tables) tables.insert(entry.first);
  }
  for (const std::string& key : numbers) texts.erase(key);
  if (numbers.empty() && texts.empty() && tables.empty()) return {};
  auto value = [](const Run& run, const std::string& key) {
    auto found = run.eval.find(key);
    return found == run.eval.end() ? Cell{} : found->second;
  };
  std::vector<std::string> metrics = group_eval_metrics(runs, group);
  auto scores = [&](const std::string& key) { return is_score(key, metrics); };
  std::string html = "<h3>Results <small>(eval.json)</small></h3>";
  if (!numbers.empty()) html += keyed_table(runs, group, {numbers.begin(), numbers.end()}, value, scores);
  for (const std::string& name : tables) html += eval_table_html(runs, group, name, scores);
  if (!texts.empty())
    html += "<details><summary>About the evaluation</summary>" +
            keyed_table(runs, group, {texts.begin(), texts.end()}, value, [](const std::string&) { return false; }) +
            "</details>";
  return html;
}

// At most this many grids per run go into the page, evenly spread over its steps: enough to
// follow training with the slider without the page growing without bound.
constexpr std::size_t kMaxGridsPerRun = 40;

std::vector<const SampleImage*> grids_of(const Run& run) {
  std::vector<const SampleImage*> all;
  for (const SampleImage& image : run.samples)
    if (image.step) all.push_back(&image);
  if (all.size() <= kMaxGridsPerRun) return all;
  std::vector<const SampleImage*> spread;
  for (std::size_t k = 0; k < kMaxGridsPerRun; ++k) spread.push_back(all[k * (all.size() - 1) / (kMaxGridsPerRun - 1)]);
  return spread;
}

std::string image_html(const SampleImage& image, const std::string& alt, const std::string& attributes) {
  try {
    return fmt::format(R"(<img class="zoomable" alt="{}" {} src="data:image/png;base64,{}">)", escape_markup(alt),
                       attributes, base64_encode(read_file(image.path)));
  } catch (const std::exception& e) {
    return fmt::format(R"(<span class="missing">{}</span>)", escape_markup(e.what()));
  }
}

std::string samples_html(const std::vector<Run>& runs, const ExperimentGroup& group, std::size_t group_index,
                         const ReportOptions& options) {
  std::set<std::int64_t> steps;
  std::string figures;
  std::map<std::string, std::vector<std::pair<std::size_t, const SampleImage*>>> extras;
  for (std::size_t r = 0; r < group.runs.size(); ++r) {
    const Run& run = runs[group.runs[r]];
    std::vector<const SampleImage*> grids = grids_of(run);
    const SampleImage* shown = nullptr;
    for (const SampleImage* grid : grids)
      if (!options.samples_step || *grid->step <= *options.samples_step) shown = grid;
    std::string images;
    for (const SampleImage* grid : grids) {
      steps.insert(*grid->step);
      images += image_html(*grid, fmt::format("{} step {}", group.labels[r], *grid->step),
                           fmt::format(R"(data-step="{}"{})", *grid->step, grid == shown ? "" : " hidden"));
    }
    if (!grids.empty())
      figures += "<figure>" + images + "<figcaption>" + run_name_html(run, group.labels[r], r) +
                 R"(<br><span class="at-step">)" +
                 (shown ? fmt::format("step {}", *shown->step) : std::string("no grid yet")) +
                 "</span></figcaption></figure>";
    for (const SampleImage& image : run.samples)
      if (!image.step) extras[image.path.filename().string()].emplace_back(r, &image);
  }
  if (figures.empty() && extras.empty()) return {};
  std::string html = "<h3>Samples</h3>";
  if (!figures.empty()) {
    std::vector<std::int64_t> ordered(steps.begin(), steps.end());
    std::size_t initial = ordered.size() - 1;
    if (options.samples_step)
      while (initial > 0 && ordered[initial] > *options.samples_step) --initial;
    if (ordered.size() > 1)
      html += fmt::format(
          R"(<p class="controls">grids at step <input type="range" min="0" max="{}" value="{}" data-samples="{}" )"
          R"(data-steps="[{}]"> <span data-shows="samples-{}">{}</span> (each run's latest at or before it; )"
          R"(click a grid for full size)</p>)",
          ordered.size() - 1, initial, group_index, fmt::join(ordered, ","), group_index, ordered[initial]);
    else
      html += R"(<p class="controls">click a grid for full size</p>)";
    html += fmt::format(R"(<div class="samples" data-grids="{}">)", group_index) + figures + "</div>";
  }
  for (const auto& [name, images] : extras) {
    html += "<h3>" + escape_markup(name) + R"(</h3><div class="samples">)";
    for (const auto& [r, image] : images)
      html += "<figure>" + image_html(*image, group.labels[r] + " " + name, "") + "<figcaption>" +
              run_name_html(runs[group.runs[r]], group.labels[r], r) + "</figcaption></figure>";
    html += "</div>";
  }
  return html;
}

std::string anchor(const std::string& experiment) {
  std::string id = "exp-";
  for (char c : experiment) id += std::isalnum(static_cast<unsigned char>(c)) || c == '_' ? c : '-';
  return id;
}

std::string experiment_section(const std::vector<Run>& runs, const ExperimentGroup& group, std::size_t group_index,
                               const ReportOptions& options, const TimeUnit& unit, PlotData& data) {
  std::string html = fmt::format(R"(<section class="experiment" id="{}"><h2>{} <small>{} run{}</small></h2>)",
                                 anchor(group.experiment), escape_markup(group.experiment), group.runs.size(),
                                 group.runs.size() == 1 ? "" : "s");
  for (const GroupSweep& sweep : group.sweeps)
    html += R"(<p class="sweep">)" + escape_markup(describe_sweep(sweep)) + "</p>";
  html += runs_table(runs, group);
  html += eval_html(runs, group);
  html += "<h3>Curves</h3>" + curves_html(runs, group, group_index, options, unit, data);
  html += samples_html(runs, group, group_index, options);
  html += config_html(runs, group);
  html += run_details(runs, group);
  return html + "</section>";
}

std::string controls(const ReportOptions& options) {
  bool time = options.x_axis == XAxis::time;
  return fmt::format(
      R"(<div class="controls sticky">smoothing <input type="range" min="0" max="0.99" step="0.01" value="{0}" )"
      R"(data-control="smoothing"> <span data-shows="smoothing">{0}</span> )"
      R"(<label>x <select data-control="x"><option value="step"{1}>step</option>)"
      R"(<option value="time"{2}>wall time</option></select></label> )"
      R"(<label>y <select data-control="y"><option value="auto">auto</option><option value="linear">linear</option>)"
      R"(<option value="log">log</option></select></label> )"
      R"(<span class="hint">hover a plot for values; drag to zoom, double-click to reset; click a run to )"
      R"(hide it; click a column to sort</span></div>)",
      options.smoothing, time ? "" : " selected", time ? " selected" : "");
}

}  // namespace

std::vector<SharedMetric> plotted_metrics(const std::vector<Run>& runs) {
  std::map<std::string, std::set<std::string>> metrics;  // split -> metrics
  for (const Run& run : runs)
    for (const auto& [split, rows] : run.metrics.splits)
      for (const auto& [metric, values] : rows.values)
        if (std::any_of(values.begin(), values.end(), [](double v) { return std::isfinite(v); }))
          metrics[split].insert(metric);

  auto split_rank = [](const std::string& split) { return split == kEvalSplit ? 0 : split == "train" ? 1 : 2; };
  std::vector<std::string> splits;
  for (const auto& entry : metrics) splits.push_back(entry.first);
  std::stable_sort(splits.begin(), splits.end(),
                   [&](const std::string& a, const std::string& b) { return split_rank(a) < split_rank(b); });

  std::vector<SharedMetric> plotted;
  for (const std::string& split : splits)
    for (const std::string& metric : metrics[split]) plotted.push_back({split, metric});
  return plotted;
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
  std::vector<ExperimentGroup> groups = group_by_experiment(runs);
  std::vector<std::string> experiments, warnings;
  for (const ExperimentGroup& group : groups) experiments.push_back(group.experiment);
  for (const Run& run : runs) warnings.insert(warnings.end(), run.warnings.begin(), run.warnings.end());

  std::string html = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
      "<title>compare: {} run{}</title><style>{}</style></head><body>"
      "<h1>{} run{} of {}</h1>",
      runs.size(), runs.size() == 1 ? "" : "s", kStyle, runs.size(), runs.size() == 1 ? "" : "s",
      escape_markup(fmt::format("{}", fmt::join(experiments, ", "))));
  if (groups.size() > 1) {
    html += R"(<p class="sub">Each experiment on its own: runs of different experiments share no plot, table or )"
            R"(&ldquo;best&rdquo;. )";
    for (const ExperimentGroup& group : groups)
      html += fmt::format(R"(<a href="#{}">{}</a> )", anchor(group.experiment), escape_markup(group.experiment));
    html += "</p>";
  }
  if (!warnings.empty()) {
    html += R"(<div class="warnings">)";
    for (const std::string& warning : warnings) html += "<div>" + escape_markup(warning) + "</div>";
    html += "</div>";
  }
  html += controls(options);
  TimeUnit unit = time_unit(runs);
  PlotData data;
  for (std::size_t g = 0; g < groups.size(); ++g) html += experiment_section(runs, groups[g], g, options, unit, data);
  html += R"(<div id="lightbox" hidden><div class="caption"></div></div><pre id="selftest"></pre>)";
  html += fmt::format(R"(<script type="application/json" id="report-data">{{"smoothing":{},"x":"{}","time_unit":{},)"
                      R"("time_name":"{}","plots":[{}]}}</script>)",
                      json_number(options.smoothing), options.x_axis == XAxis::step ? "step" : "time", unit.seconds,
                      unit.name, fmt::join(data.plots, ","));
  html += std::string("<script>") + kReportScript + "</script>";
  return html + "</body></html>\n";
}

}  // namespace genbox::report
