#include <doctest/doctest.h>

#include "base/errors.hpp"
#include "base/fsutil.hpp"
#include "base/progress.hpp"
#include "base/run.hpp"
#include "tests/support.hpp"

using namespace genbox;
using genbox::testing::TempDir;

TEST_CASE("a new run directory has the contract's files and a running meta.json") {
  TempDir out;
  Run run = Run::create(out.path().string(), "nice", "smoke", "[run]\nname = \"smoke\"\n", "nice train");
  CHECK(run.dir().parent_path() == out.path() / "nice");
  CHECK(run.dir().filename().string().size() == std::string("20260101-000000-smoke").size());
  CHECK(std::filesystem::is_directory(run.samples_dir()));
  CHECK(std::filesystem::is_directory(run.checkpoints_dir()));
  CHECK(read_file(run.dir() / "config.toml") == "[run]\nname = \"smoke\"\n");
  auto meta = nlohmann::json::parse(read_file(run.dir() / "meta.json"));
  CHECK(meta["status"] == "running");
  CHECK(meta["experiment"] == "nice");
  CHECK(meta["command"] == "nice train");

  run.set_status("finished", 12);
  meta = nlohmann::json::parse(read_file(run.dir() / "meta.json"));
  CHECK(meta["status"] == "finished");
  CHECK(meta["step"] == 12);
  CHECK(meta["finished"].is_string());
}

TEST_CASE("two runs started in the same second get distinct directories") {
  TempDir out;
  Run a = Run::create(out.path().string(), "nice", "same", "", "");
  Run b = Run::create(out.path().string(), "nice", "same", "", "");
  CHECK(a.dir() != b.dir());
}

TEST_CASE("metrics.jsonl round-trips values exactly, one object per line") {
  TempDir out;
  std::filesystem::path dir;
  const double loss = 0.1 + 0.2;  // not representable in few digits: needs a round-trip format
  {
    Run run = Run::create(out.path().string(), "nice", "m", "", "");
    dir = run.dir();
    run.append_metrics(1, "train", {{"loss", loss}, {"lr", 1e-3}});
    run.append_metrics(2, "eval", {{"bpd", 4.25}});
  }
  std::istringstream lines(read_file(dir / "metrics.jsonl"));
  std::string line;
  std::vector<nlohmann::json> rows;
  while (std::getline(lines, line)) rows.push_back(nlohmann::json::parse(line));
  REQUIRE(rows.size() == 2);
  CHECK(rows[0]["step"] == 1);
  CHECK(rows[0]["split"] == "train");
  CHECK(rows[0]["loss"].get<double>() == loss);
  CHECK(rows[0]["lr"].get<double>() == 1e-3);
  CHECK(rows[0]["time_s"].get<double>() >= 0);
  CHECK(rows[1]["split"] == "eval");
  CHECK(rows[1]["bpd"].get<double>() == 4.25);

  Run reopened = Run::open(dir);
  reopened.append_metrics(3, "train", {{"loss", 1.0}});
  std::string text = read_file(dir / "metrics.jsonl");
  CHECK(std::count(text.begin(), text.end(), '\n') == 3);
}

TEST_CASE("a reopened run starts its metrics on a fresh line after a torn one") {
  TempDir out;
  std::filesystem::path dir = Run::create(out.path().string(), "nice", "torn", "", "").dir();
  genbox::testing::write_text(dir / "metrics.jsonl", "{\"step\":1,\"split\":\"train\"}\n{\"step\":2,\"spl");
  Run::open(dir).append_metrics(2, "train", {{"loss", 1.0}});
  std::string text = read_file(dir / "metrics.jsonl");
  std::string last = text.substr(text.rfind('\n', text.size() - 2) + 1);
  CHECK(nlohmann::json::parse(last)["step"] == 2);
  CHECK(std::count(text.begin(), text.end(), '\n') == 3);
}

TEST_CASE("opening a directory without meta.json is a clear error") {
  TempDir out;
  CHECK_THROWS_WITH(Run::open(out.path()), (out.path().string() + " is not a run directory: no meta.json").c_str());
}

TEST_CASE("atomic writes replace the whole file and leave no temporary behind") {
  TempDir out;
  write_file_atomic(out / "a.txt", "first");
  write_file_atomic(out / "a.txt", "second");
  CHECK(read_file(out / "a.txt") == "second");
  CHECK(std::distance(std::filesystem::directory_iterator(out.path()), std::filesystem::directory_iterator()) == 1);
}

TEST_CASE("a write that fails is a DataError naming the file and the reason, and leaves nothing behind") {
  TempDir out;
  // A file where a directory should be: the OS refuses the temporary's creation.
  write_file_atomic(out / "plain", "x");
  const std::string expected = (out / "plain" / "meta.json").string() + ": cannot write: Not a directory";
  CHECK_THROWS_WITH_AS(write_file_atomic(out / "plain" / "meta.json", "{}"), doctest::Contains(expected.c_str()),
                       genbox::DataError);
  // A rename onto a directory fails after the temporary was written: it is removed.
  std::filesystem::create_directories(out / "dir" / "inner");
  CHECK_THROWS_AS(write_file_atomic(out / "dir", "x"), genbox::DataError);
  CHECK(std::distance(std::filesystem::directory_iterator(out.path()), std::filesystem::directory_iterator()) == 2);
  CHECK_THROWS_WITH_AS(read_file(out / "absent"), doctest::Contains("absent: cannot read"), genbox::DataError);
}

TEST_CASE("durations are short and readable") {
  CHECK(format_duration(5) == "5.0s");
  CHECK(format_duration(65) == "1m05s");
  CHECK(format_duration(3725) == "1h02m");
  CHECK(format_duration(42.04) == "42.0s");
  CHECK(format_duration(754.2) == "12m34s");
  CHECK(format_duration(3599.6) == "1h00m");  // rounded before it is split into units
  CHECK(format_duration(36000) == "10h00m");
  CHECK(format_duration(-1) == "?");
}
