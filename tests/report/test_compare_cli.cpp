// The compare program end to end: exit codes, what goes to stdout and stderr, files written.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "base/fsutil.hpp"
#include "tests/report/fixture_runs.hpp"

using namespace genbox::report;
namespace fs = std::filesystem;

namespace {

struct Result {
  int exit_code;
  std::string out, err;
};

Result run_compare(const std::string& arguments) {
  fs::path err_file = fs::temp_directory_path() / ("compare_stderr_" + std::to_string(::getpid()));
  std::string command = std::string(GENBOX_BIN_DIR) + "/compare " + arguments + " 2>" + err_file.string();
  Result result{-1, {}, {}};
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) result.out.append(buffer, n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.err = genbox::read_file(err_file);
  fs::remove(err_file);
  return result;
}

std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

}  // namespace

TEST_CASE("usage errors exit 2 with the usage text") {
  for (const char* arguments : {"", "--bogus x", "--x depth run", "--smooth 1 run", "--smooth abc run",
                                "--samples-step -3x run", "run --html"}) {
    Result result = run_compare(arguments);
    CHECK_MESSAGE(result.exit_code == 2, arguments);
    CHECK(result.err.find("usage: compare RUN_DIR...") != std::string::npos);
    CHECK(result.out.empty());
  }
  Result help = run_compare("--help");
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("--metric NAME") != std::string::npos);
}

TEST_CASE("a path that is not a run is named on stderr and the others are still compared") {
  fs::path not_a_run = fixtures::path(fixtures::kNotARun);
  Result result = run_compare(quoted(fixtures::path(fixtures::kFinished)) + " " + quoted(not_a_run) + " " +
                              quoted(fixtures::path(fixtures::kResumed)));
  CHECK(result.exit_code == 0);
  CHECK(result.err.find(not_a_run.string() + ": not a run directory (no meta.json)") != std::string::npos);
  CHECK(result.out.rfind("nice, 2 runs\nrun  ", 0) == 0);
  CHECK(result.out.find("\nhidden=[1000,1000], seed=0  ") != std::string::npos);
  CHECK(result.out.find("\nhidden=[1000,1000,1000], seed=1  ") != std::string::npos);

  Result none = run_compare(quoted(not_a_run) + " " + quoted(fixtures::path("missing")));
  CHECK(none.exit_code == 3);
  CHECK(none.out.empty());
}

TEST_CASE("--metric sorts by the best value, and names the known metrics when it is unknown") {
  std::string runs = quoted(fixtures::path(fixtures::kFinished)) + " " + quoted(fixtures::path(fixtures::kResumed));
  Result sorted = run_compare(runs + " --metric bpd");
  CHECK(sorted.exit_code == 0);
  CHECK(sorted.out.find("seed=1") < sorted.out.find("seed=0"));

  Result unknown = run_compare(runs + " --metric mAP");
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.err.find("no run logged eval metric 'mAP'; eval metrics: bpd, nats") != std::string::npos);
}

TEST_CASE("the table fits 120 columns off a terminal; --wide and --columns choose otherwise") {
  std::string runs;
  for (const char* name : {fixtures::kFinished, fixtures::kInProgress, fixtures::kResumed, fixtures::kFailed,
                           fixtures::kNoMetrics, fixtures::kOtherExperiment, fixtures::kDetection})
    runs += quoted(fixtures::path(name)) + " ";
  auto widest = [](const std::string& text) {
    std::size_t widest = 0, line = 0;
    for (char c : text) {
      if (c == '\n')
        line = 0;
      else if ((static_cast<unsigned char>(c) & 0xC0) != 0x80)
        widest = std::max(widest, ++line);
    }
    return widest;
  };
  Result fitted = run_compare(runs);
  CHECK(fitted.exit_code == 0);
  CHECK(widest(fitted.out) <= 120);
  CHECK(fitted.out.find("\nrf_dit, 1 run\n") != std::string::npos);
  Result wide = run_compare(runs + "--wide");
  CHECK(wide.out.find("more column") == std::string::npos);
  Result picked = run_compare(runs + "--columns lr,bogus");
  CHECK(picked.exit_code == 0);
  CHECK(picked.out.rfind("nice, 5 runs\nrun                              lr\n", 0) == 0);
  CHECK(picked.err.find("no experiment has a column 'bogus'") != std::string::npos);
  CHECK(run_compare(runs + "--columns ,").exit_code == 2);
}

TEST_CASE("--csv and --html are written whole, leaving no temporary file") {
  fs::path out = fs::temp_directory_path() / ("compare_out_" + std::to_string(::getpid()));
  fs::create_directories(out);
  Result result = run_compare(quoted(fixtures::path(fixtures::kFinished)) + " " +
                              quoted(fixtures::path(fixtures::kInProgress)) + " --csv " + quoted(out / "runs.csv") +
                              " --html=" + quoted(out / "report.html") + " --x time --smooth 0.5");
  CHECK(result.exit_code == 0);
  CHECK(genbox::read_file(out / "runs.csv").rfind("run,experiment,status,step,wall_time_s,bpd_best", 0) == 0);
  std::string html = genbox::read_file(out / "report.html");
  CHECK(html.size() - html.rfind("</html>\n") == 8);
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(out)) files += entry.is_regular_file();
  CHECK(files == 2);

  Result unwritable =
      run_compare(quoted(fixtures::path(fixtures::kFinished)) + " --csv " + quoted(out / "no-such-dir" / "runs.csv"));
  CHECK(unwritable.exit_code == 1);
  CHECK(unwritable.err.find("no-such-dir/runs.csv: cannot write") != std::string::npos);
  fs::remove_all(out);
}
