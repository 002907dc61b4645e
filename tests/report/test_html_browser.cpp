// The report's script in a real browser: headless Chromium loads the page with #selftest, the
// script hides a run and moves the smoothing slider itself and writes what changed into the DOM.
// scripts/test installs Debian's chromium; skipped where none is installed (GENBOX_NO_BROWSER=1).
#include <doctest/doctest.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cstdio>
#include <filesystem>

#include "base/fsutil.hpp"
#include "report/html.hpp"

using namespace genbox::report;
namespace fs = std::filesystem;

namespace {

std::string output_of(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return out;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  ::pclose(pipe);
  return out;
}

// A run with a train curve long enough to smooth (200 points) and a 7-point eval curve.
void write_run(const fs::path& dir, double lr) {
  fs::create_directories(dir);
  genbox::write_file_atomic(dir / "meta.json", R"({"experiment":"nice","status":"finished","step":2000})");
  genbox::write_file_atomic(dir / "config.toml", fmt::format("[optim]\nlr = {}\n", lr));
  std::string metrics;
  for (int step = 10; step <= 2000; step += 10)
    metrics += fmt::format(R"({{"split":"train","step":{},"time_s":{},"loss":{}}})"
                           "\n",
                           step, step * 0.1, 1000.0 / step + (step % 30 == 0 ? 3 : 0) + lr * 1000);
  for (int step = 0; step <= 1800; step += 300)
    metrics += fmt::format(R"({{"split":"eval","step":{},"time_s":{},"bpd":{}}})"
                           "\n",
                           step, step * 0.1, 8.0 - step / 600.0 + lr);
  genbox::write_file_atomic(dir / "metrics.jsonl", metrics);
}

}  // namespace

TEST_CASE("in headless Chromium the script runs, and hiding a run and smoothing change what is drawn") {
  std::string chromium = output_of("command -v chromium chromium-browser 2>/dev/null | head -n 1");
  if (chromium.empty()) {
    MESSAGE("chromium is not installed; skipping the browser check");
    return;
  }
  chromium.erase(chromium.find_last_not_of("\n") + 1);
  fs::path dir = fs::temp_directory_path() / ("genbox_browser_" + std::to_string(::getpid()));
  write_run(dir / "a", 0.001);
  write_run(dir / "b", 0.0003);
  std::string html = html_report({load_run(dir / "a"), load_run(dir / "b")}, {});
  genbox::write_file_atomic(dir / "report.html", html);

  // Its own profile directory, so that it neither needs nor touches a home directory.
  std::string dom = output_of(fmt::format(
      "timeout 90 '{}' --headless --disable-gpu --no-sandbox --user-data-dir='{}' --dump-dom 'file://{}#selftest' "
      "2>/dev/null",
      chromium, (dir / "profile").string(), (dir / "report.html").string()));
  fs::remove_all(dir);
  REQUIRE_MESSAGE(!dom.empty(), "chromium printed no DOM");
  CHECK(dom.find(R"(data-report="ready")") != std::string::npos);
  CHECK(dom.find("hide:changed show:restored smooth:changed short:kept") != std::string::npos);
}
