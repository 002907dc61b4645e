#include <doctest/doctest.h>

#include <cctype>
#include <set>

#include "base/fsutil.hpp"
#include "report/html.hpp"
#include "tests/report/fixture_runs.hpp"

using namespace genbox::report;

namespace {

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// Empty when every element the report emits is closed in order; else what went wrong.
std::string tag_problem(const std::string& html) {
  static const std::set<std::string> void_elements = {"!doctype", "meta", "img", "br", "input"};
  std::vector<std::string> open;
  for (std::size_t at = html.find('<'); at != std::string::npos; at = html.find('<', at + 1)) {
    std::size_t end = html.find('>', at);
    if (end == std::string::npos) return "unterminated tag at " + std::to_string(at);
    std::string tag = html.substr(at + 1, end - at - 1);
    bool closing = !tag.empty() && tag[0] == '/';
    std::string name = tag.substr(closing, tag.find_first_of(" />", closing) - closing);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name.empty() || !(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '!'))
      return "stray '<' at " + std::to_string(at);
    if (closing) {
      if (open.empty() || open.back() != name)
        return "</" + name + "> closes <" + (open.empty() ? "" : open.back()) + ">";
      open.pop_back();
    } else if (tag.back() != '/' && void_elements.count(name) == 0) {
      open.push_back(name);
    }
  }
  return open.empty() ? "" : "<" + open.back() + "> never closed";
}

// The page without its script, whose strings hold markup it draws later.
std::string without_script(const std::string& html) {
  std::size_t start = html.rfind("<script>");
  return html.substr(0, start + 8) + html.substr(html.find("</script>", start));
}

void check_self_contained(const std::string& html) {
  for (const char* external : {"http://", "https://", "src=\"/", "src=\"file", "href=\"/", "href=\"h", "url(http",
                               "url(/", "url(file", "@import", "<script src", "<link", "fetch(", "XMLHttpRequest"})
    CHECK_MESSAGE(html.find(external) == std::string::npos, external);
  // One data block and one script, both inline.
  CHECK(count(html, "<script") == 2);
  CHECK(count(html, R"(<script type="application/json" id="report-data">)") == 1);
  // Every image is inline.
  CHECK(count(without_script(html), "<img ") == count(html, "src=\"data:image/png;base64,"));
}

}  // namespace

TEST_CASE("base64 of the RFC 4648 test vectors") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("foob") == "Zm9vYg==");
  CHECK(base64_encode("fooba") == "Zm9vYmE=");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  CHECK(base64_encode(std::string("\xff\x00\xfe", 3)) == "/wD+");
}

// The report's plot data: the groups of its plots, and each plot's number of curves.
std::vector<std::pair<int, std::size_t>> plot_groups(const std::string& html) {
  std::vector<std::pair<int, std::size_t>> plots;
  std::string data = html.substr(html.find("id=\"report-data\">"));
  data = data.substr(0, data.find("</script>"));
  for (std::size_t at = data.find("{\"group\":"); at != std::string::npos; at = data.find("{\"group\":", at + 1)) {
    std::size_t next = data.find("{\"group\":", at + 1);
    std::string plot = data.substr(at, next == std::string::npos ? std::string::npos : next - at);
    plots.emplace_back(std::stoi(plot.substr(9)), count(plot, "{\"run\":"));
  }
  return plots;
}

// The HTML of the section of `experiment`.
std::string section_of(const std::string& html, const std::string& experiment) {
  std::size_t start = html.find("<section class=\"experiment\" id=\"exp-" + experiment + "\">");
  REQUIRE(start != std::string::npos);
  return html.substr(start, html.find("</section>", start) - start);
}

TEST_CASE("plotted metrics: every metric some run logged, eval first") {
  std::vector<Run> nice = fixtures::load(
      {fixtures::kFinished, fixtures::kInProgress, fixtures::kResumed, fixtures::kFailed, fixtures::kNoMetrics});
  CHECK(plotted_metrics(nice) ==
        std::vector<SharedMetric>{
            {"eval", "bpd"}, {"eval", "nats"}, {"train", "grad_norm"}, {"train", "loss"}, {"train", "lr"}});
  CHECK(plotted_metrics(fixtures::load({fixtures::kNoMetrics})).empty());
}

TEST_CASE("the report over every fixture run: well formed, self-contained, one section per experiment") {
  std::vector<Run> runs =
      fixtures::load({fixtures::kFinished, fixtures::kInProgress, fixtures::kResumed, fixtures::kFailed,
                      fixtures::kNoMetrics, fixtures::kOtherExperiment, fixtures::kDetection});
  std::string page = html_report(runs, {});
  std::string html = without_script(page);

  CHECK(html.rfind("<!DOCTYPE html>\n<html lang=\"en\">", 0) == 0);
  CHECK(tag_problem(html) == "");
  check_self_contained(page);
  CHECK(count(html, "<section class=\"experiment\"") == 3);
  std::string nice = section_of(html, "nice"), dit = section_of(html, "rf_dit"), detr = section_of(html, "detr");

  // No plot mixes experiments: five metrics of each, every plot in its experiment's group.
  std::vector<std::pair<int, std::size_t>> plots = plot_groups(html);
  REQUIRE(plots.size() == 15);
  CHECK(count(nice, "<svg") == 5);
  CHECK(count(dit, "<svg") == 5);
  CHECK(count(detr, "<svg") == 5);
  for (std::size_t i = 0; i < plots.size(); ++i) CHECK(plots[i].first == static_cast<int>(i / 5));
  CHECK(plots[3].second == 4);  // train loss: the four NICE runs that logged it
  // Eval curves come first in each experiment.
  CHECK(nice.find("aria-label=\"eval \u00b7 bpd\"") < nice.find("aria-label=\"train \u00b7 loss\""));
  CHECK(detr.find("aria-label=\"eval \u00b7 ap\"") != std::string::npos);
  CHECK(dit.find("aria-label=\"eval \u00b7 fd\"") != std::string::npos);

  // Runs are labelled by what sets them apart, the directory on hover; the legend toggles them.
  CHECK(nice.find(R"(<span title="20240102-090000-lr3e-4">lr=3e-4</span>)") != std::string::npos);
  CHECK(nice.find(R"(data-toggle="0:1")") != std::string::npos);
  // The runs table is sortable, with the differing hyperparameters as columns.
  CHECK(nice.find(R"(<table class="sortable runs">)") != std::string::npos);
  CHECK(nice.find(R"(<th title="optim.lr; click to sort">lr</th>)") != std::string::npos);
  // "Best" within each experiment: the resumed run's 1.98 is NICE's best bpd; the single runs
  // of the other experiments have nothing to be best against.
  CHECK(nice.find(R"(<td class="num best" data-v="1.98">1.98</td>)") != std::string::npos);
  CHECK(dit.find("num best") == std::string::npos);
  CHECK(detr.find("num best") == std::string::npos);

  // eval.json: the DiT's sweep and DETR's AP per category as tables, never as raw JSON.
  CHECK(dit.find("<h3>sweep</h3>") != std::string::npos);
  CHECK(dit.find("<th>steps</th><th>guidance</th><th>class_accuracy</th>") != std::string::npos);
  CHECK(dit.find(R"(<td class="num" data-v="24.9">24.9</td>)") != std::string::npos);
  CHECK(dit.find("<td>0.8 0.95 0.6</td>") != std::string::npos);
  CHECK(detr.find("<h3>ap_per_category</h3>") != std::string::npos);
  CHECK(detr.find("<th>id</th><th>name</th><th>ap</th>") != std::string::npos);
  CHECK(detr.find("<td>Trouser</td>") != std::string::npos);
  std::string tables = html.substr(0, html.find("<script type=\"application/json\""));
  CHECK(tables.find("[{") == std::string::npos);
  CHECK(tables.find("{&quot;") == std::string::npos);
  CHECK(nice.find("<th>test.images</th>") != std::string::npos);
  CHECK(dit.find("<th>sampler.name</th>") != std::string::npos);

  // Config differences are per experiment: NICE's differing keys, not the DiT's.
  CHECK(nice.find("<h3>Config differences</h3>") != std::string::npos);
  CHECK(nice.find("<th>train.batch_size</th>") != std::string::npos);
  CHECK(nice.substr(0, nice.find("Whole config")).find("<th>sample.cfg_scale</th>") == std::string::npos);
  CHECK(dit.find("<h3>Config differences</h3>") == std::string::npos);  // one run: only its whole config

  // Every step grid of each run is in the page, the latest shown; the extras by name.
  std::string latest_of_finished =
      base64_encode(genbox::read_file(fixtures::path(fixtures::kFinished) / "samples/step_0003000.png"));
  std::string first_of_finished =
      base64_encode(genbox::read_file(fixtures::path(fixtures::kFinished) / "samples/step_0001000.png"));
  CHECK(html.find(R"(data-step="3000" src="data:image/png;base64,)" + latest_of_finished) != std::string::npos);
  CHECK(html.find(R"(data-step="1000" hidden src="data:image/png;base64,)" + first_of_finished) != std::string::npos);
  CHECK(count(html, "<img class=\"zoomable\"") == 7);  // 6 step grids + inpaint.png
  CHECK(nice.find(R"(data-samples="0" data-steps="[1000,2000,3000]")") != std::string::npos);
  CHECK(html.find("<h3>inpaint.png</h3>") != std::string::npos);
}

TEST_CASE("report options: wall time axis, smoothing, samples at a step") {
  std::vector<Run> runs = fixtures::load({fixtures::kFinished, fixtures::kInProgress, fixtures::kResumed});
  ReportOptions options;
  options.x_axis = XAxis::time;
  options.smoothing = 0.6;
  options.samples_step = 2000;
  std::string page = html_report(runs, options);
  std::string html = without_script(page);

  CHECK(tag_problem(html) == "");
  check_self_contained(page);
  CHECK(count(html, "<svg") == 5);
  CHECK(count(html, ">wall time (min)</text>") == 5);  // the longest run logged 1012 s
  CHECK(html.find(R"("smoothing":0.6,"x":"time","time_unit":60,"time_name":"min")") != std::string::npos);
  CHECK(html.find(R"(value="0.6" data-control="smoothing")") != std::string::npos);
  CHECK(html.find(R"(<option value="time" selected>)") != std::string::npos);
  // Every curve of more than one point has its raw values drawn pale behind it.
  CHECK(count(html, "stroke-opacity=\"0.22\"") == 15);
  // The finished run has no grid at 2000, so its latest before that (1000) is shown.
  std::string grid_1000 =
      base64_encode(genbox::read_file(fixtures::path(fixtures::kFinished) / "samples/step_0001000.png"));
  CHECK(html.find(R"(data-step="1000" src="data:image/png;base64,)" + grid_1000) != std::string::npos);
  CHECK(html.find(R"(value="1" data-samples="0")") != std::string::npos);  // steps 1000, 2000, 3000
}

TEST_CASE("one run: its whole config, and no curves when it has no metrics") {
  std::string page = html_report(fixtures::load({fixtures::kNoMetrics}), {});
  std::string html = without_script(page);
  CHECK(tag_problem(html) == "");
  CHECK(count(html, "<svg") == 0);
  CHECK(html.find("Whole config") != std::string::npos);
  CHECK(html.find("<th>train.batch_size</th>") != std::string::npos);
  CHECK(html.find("No metrics logged yet.") != std::string::npos);
}
