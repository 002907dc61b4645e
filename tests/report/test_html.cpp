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
  static const std::set<std::string> void_elements = {"!doctype", "meta", "img", "br"};
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

void check_self_contained(const std::string& html) {
  for (const char* external :
       {"http://", "https://", "src=\"/", "src=\"file", "href=", "url(", "@import", "<script", "<link"})
    CHECK_MESSAGE(html.find(external) == std::string::npos, external);
  // Every image is inline.
  CHECK(count(html, "<img ") == count(html, "src=\"data:image/png;base64,"));
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

TEST_CASE("shared metrics: a run without a split does not hide the others' curves") {
  std::vector<Run> nice = fixtures::load(
      {fixtures::kFinished, fixtures::kInProgress, fixtures::kResumed, fixtures::kFailed, fixtures::kNoMetrics});
  CHECK(shared_metrics(nice) ==
        std::vector<SharedMetric>{
            {"eval", "bpd"}, {"eval", "nats"}, {"train", "grad_norm"}, {"train", "loss"}, {"train", "lr"}});
  std::vector<Run> mixed = fixtures::load({fixtures::kFinished, fixtures::kOtherExperiment});
  CHECK(shared_metrics(mixed) == std::vector<SharedMetric>{{"train", "grad_norm"}, {"train", "loss"}, {"train", "lr"}});
  CHECK(shared_metrics(fixtures::load({fixtures::kNoMetrics})).empty());
}

TEST_CASE(
    "the report over every fixture run is well formed, self-contained, one plot per shared "
    "metric") {
  std::vector<Run> runs = fixtures::load({fixtures::kFinished, fixtures::kInProgress, fixtures::kResumed,
                                          fixtures::kFailed, fixtures::kNoMetrics, fixtures::kOtherExperiment});
  std::string html = html_report(runs, {});

  CHECK(html.rfind("<!DOCTYPE html>\n<html lang=\"en\">", 0) == 0);
  CHECK(tag_problem(html) == "");
  check_self_contained(html);
  CHECK(count(html, "<svg") == 3);
  for (const char* title : {"train \u00b7 grad_norm", "train \u00b7 loss", "train \u00b7 lr"})
    CHECK(html.find(std::string("aria-label=\"") + title + "\"") != std::string::npos);
  // Each run gets a legend entry and a row; the curves are colored per run.
  for (const Run& run : runs) CHECK(count(html, run.label) >= 3);
  // The diverged run's loss goes from 1600 to 90000 and rf_dit's is below 1: log scale.
  CHECK(count(html, ">log scale<") >= 1);
  // The config difference table holds keys only some runs have.
  CHECK(html.find("<th>model.depth</th>") != std::string::npos);
  CHECK(html.find("<th>sample.cfg_scale</th>") != std::string::npos);
  CHECK(html.find("<th>data.dataset</th>") != std::string::npos);
  CHECK(html.find("<th>run.out_dir</th>") == std::string::npos);  // the same everywhere
  // eval.json of both runs that have one, nested keys flattened.
  CHECK(html.find("<th>test.images</th>") != std::string::npos);
  CHECK(html.find("<th>sampler.name</th>") != std::string::npos);
  // The latest step grid of each run with samples, and the extras by name.
  std::string latest_of_finished =
      base64_encode(genbox::read_file(fixtures::path(fixtures::kFinished) / "samples/step_0003000.png"));
  CHECK(html.find(latest_of_finished) != std::string::npos);
  std::string first_of_finished =
      base64_encode(genbox::read_file(fixtures::path(fixtures::kFinished) / "samples/step_0001000.png"));
  CHECK(html.find(first_of_finished) == std::string::npos);
  CHECK(count(html, "<img ") == 5);  // 4 runs with grids + inpaint.png
  CHECK(html.find("<h3>inpaint.png</h3>") != std::string::npos);
}

TEST_CASE("report options: wall time axis, smoothing, samples at a step") {
  std::vector<Run> runs = fixtures::load({fixtures::kFinished, fixtures::kInProgress, fixtures::kResumed});
  ReportOptions options;
  options.x_axis = XAxis::time;
  options.smoothing = 0.6;
  options.samples_step = 2000;
  std::string html = html_report(runs, options);

  CHECK(tag_problem(html) == "");
  check_self_contained(html);
  CHECK(count(html, "<svg") == 5);
  CHECK(count(html, ">wall time (min)</text>") == 5);  // the longest run logged 1012 s
  CHECK(html.find("EMA smoothing 0.6") != std::string::npos);
  // Every curve of more than one point has its raw values drawn pale behind it.
  CHECK(count(html, "stroke-opacity=\"0.22\"") == 15);
  // The finished run has no grid at 2000, so its latest before that (1000) is shown.
  std::string grid_1000 =
      base64_encode(genbox::read_file(fixtures::path(fixtures::kFinished) / "samples/step_0001000.png"));
  CHECK(html.find(grid_1000) != std::string::npos);
  CHECK(html.find("Latest grid at or before step 2000") != std::string::npos);
}

TEST_CASE("one run: its whole config, and no curves when it has no metrics") {
  std::string html = html_report(fixtures::load({fixtures::kNoMetrics}), {});
  CHECK(tag_problem(html) == "");
  CHECK(count(html, "<svg") == 0);
  CHECK(html.find("<h2>Config</h2>") != std::string::npos);
  CHECK(html.find("<th>train.batch_size</th>") != std::string::npos);
  CHECK(html.find("No metric is logged by all of these runs yet.") != std::string::npos);
}
