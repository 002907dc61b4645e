// What every program's command line does alike, run end to end: --help and --version on stdout,
// integer options checked against their range in one line, -c files merged in order, a quoting
// hint for a value TOML reads as a number, and a live progress line that fits a narrow terminal.
#include <doctest/doctest.h>
#include <torch/version.h>

#include <algorithm>
#include <cctype>
#include <sstream>

#include "tests/support.hpp"

using namespace genbox;
using namespace genbox::testing;

namespace {
const std::vector<std::string> kPrograms = {"nice", "rf_dit", "detr"};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool is_commit(const std::string& text) {
  return text == "unknown" || (text.size() == 40 && std::all_of(text.begin(), text.end(), [](char c) {
                                 return std::isxdigit(static_cast<unsigned char>(c));
                               }));
}
}  // namespace

TEST_CASE("--help prints the usage on stdout and exits 0, for the program and for each command") {
  for (const std::string& program : kPrograms) {
    auto help = run_command(binary(program) + " --help 2>/dev/null");
    CHECK_MESSAGE(help.exit_code == 0, program);
    CHECK(help.output.rfind("usage: " + program + " <command>", 0) == 0);
    CHECK(help.output.find(program + " <command> --help") != std::string::npos);
    auto quiet = run_command(binary(program) + " --help >/dev/null");
    CHECK_MESSAGE(quiet.output.empty(), program);  // nothing on stderr
  }
  auto train = run_command(binary("nice") + " train --help 2>/dev/null");
  CHECK(train.exit_code == 0);
  CHECK(train.output.rfind("usage: nice train [-c FILE.toml ...] [--resume RUN_DIR]", 0) == 0);
  CHECK(train.output.find("several -c are merged in order,\n") != std::string::npos);
  CHECK(train.output.find("`nice train --print-config`") != std::string::npos);
  auto eval = run_command(binary("detr") + " eval --help 2>/dev/null");
  CHECK(eval.exit_code == 0);
  CHECK(eval.output.rfind("usage: detr eval RUN_DIR", 0) == 0);
  CHECK(eval.output.find("COCO mAP") != std::string::npos);
  CHECK(eval.output.find("`detr eval RUN_DIR --print-config`") != std::string::npos);
  auto sample = run_command(binary("rf_dit") + " sample --help 2>/dev/null");
  CHECK(sample.output.find("an integer in [1, 10000]") != std::string::npos);
}

TEST_CASE("--version prints genbox's version and commit, torch's version and its CUDA, one line each") {
  for (const std::string& program : kPrograms) {
    auto version = run_command(binary(program) + " --version 2>/dev/null");
    CHECK_MESSAGE(version.exit_code == 0, program);
    std::vector<std::string> lines = lines_of(version.output);
    REQUIRE(lines.size() == 4);
    CHECK(lines[0].rfind("genbox 0.", 0) == 0);
    CHECK(lines[1].rfind("commit ", 0) == 0);
    CHECK_MESSAGE(is_commit(lines[1].substr(7)), lines[1]);
    CHECK(lines[2] == "torch " TORCH_VERSION);
    CHECK(lines[3].rfind("cuda ", 0) == 0);
    const std::string cuda = lines[3].substr(5);
    CHECK_MESSAGE((cuda == "none" || (cuda.find('.') != std::string::npos && std::isdigit(cuda[0]))), cuda);
  }
  auto compare = run_command(binary("compare") + " --version 2>/dev/null");
  CHECK(compare.exit_code == 0);
  CHECK(lines_of(compare.output).size() == 2);
}

TEST_CASE("the commit is the source tree's at build time, and unknown outside git") {
  TempDir dir;
  auto write_version = [&](const std::filesystem::path& source) {
    const std::filesystem::path out = dir / "version.cpp";
    std::filesystem::remove(out);
    auto result =
        run_command("cmake -DGIT=git -DSOURCE_DIR=" + source.string() + " -DVERSION=1.2.3 -DOUTPUT=" + out.string() +
                    " -P " + (source_dir() / "cmake/write_version.cmake").string());
    INFO(result.output);
    REQUIRE(result.exit_code == 0);
    return read_text(out);
  };
  std::filesystem::create_directory(dir / "unpacked");
  std::string outside = write_version(dir / "unpacked");
  CHECK(outside.find("genbox_git_commit() { return \"unknown\"; }") != std::string::npos);
  CHECK(outside.find("genbox_version() { return \"1.2.3\"; }") != std::string::npos);
  auto head = run_command("git -C " + source_dir().string() + " rev-parse HEAD 2>/dev/null");
  std::string expected = head.exit_code == 0 ? lines_of(head.output).at(0) : "unknown";
  CHECK(write_version(source_dir()).find("genbox_git_commit() { return \"" + expected + "\"; }") != std::string::npos);
}

TEST_CASE("an integer option out of its range is one line naming the option and the range, exit 2") {
  struct Case {
    std::string program, arguments, message;
  };
  for (const Case& c : std::vector<Case>{
           {"nice", "sample RUN --n 0", "--n expects an integer in [1, 100000], got '0'"},
           {"nice", "inpaint RUN --n -3", "--n expects an integer in [1, 1000], got '-3'"},
           {"rf_dit", "sample RUN --n abc", "--n expects an integer in [1, 10000], got 'abc'"},
           {"detr", "sample RUN --n=1e3", "--n expects an integer in [1, 10000], got '1e3'"},
           {"nice", "bench --steps 0", "--steps expects an integer in [1, 100000], got '0'"},
           {"rf_dit", "bench --steps 1.5", "--steps expects an integer in [1, 100000], got '1.5'"},
           {"detr", "bench --steps 100001", "--steps expects an integer in [1, 100000], got '100001'"},
       }) {
    auto result = run_command(binary(c.program) + " " + c.arguments);
    CHECK_MESSAGE(result.exit_code == 2, c.arguments);
    CHECK_MESSAGE(result.output == c.program + ": " + c.message + "\n", c.arguments);
  }
}

TEST_CASE("two -c files merge in order: the later file's keys win, and overrides after both") {
  TempDir dir;
  write_text(dir / "a.toml", "[train]\nsteps = 7\n[model]\nhidden = 16\n");
  write_text(dir / "b.toml", "[train]\nsteps = 9\n");
  const std::string files = " -c " + (dir / "a.toml").string() + " --config " + (dir / "b.toml").string();
  auto merged = run_command(binary("nice") + " train" + files + " --print-config 2>&1");
  CHECK(merged.exit_code == 0);
  CHECK(merged.output.find("\nsteps = 9\n") != std::string::npos);
  CHECK(merged.output.find("\nhidden = 16\n") != std::string::npos);
  auto overridden = run_command(binary("nice") + " train" + files + " train.steps=11 --print-config");
  CHECK(overridden.output.find("\nsteps = 11\n") != std::string::npos);
  auto bad =
      run_command(binary("nice") + " train -c " + (dir / "a.toml").string() + " -c " + (dir / "absent.toml").string());
  CHECK(bad.exit_code == 2);
  CHECK(bad.output.find("absent.toml: cannot read config file") != std::string::npos);
}

TEST_CASE("a number where a string is wanted gets a quoting hint that works in the shell") {
  auto hint = run_command(binary("nice") + " train run.name=1e-3");
  CHECK(hint.exit_code == 2);
  CHECK(hint.output ==
        "nice: config error: override 'run.name=1e-3': 'run.name' expects a string, got the number "
        "1e-3; quote it: run.name='\"1e-3\"'\n");
  auto quoted = run_command(binary("nice") + " train run.name='\"1e-3\"' --print-config");
  CHECK(quoted.exit_code == 0);
  CHECK(quoted.output.find("name = \"1e-3\"\n") != std::string::npos);
}

TEST_CASE("on a narrow terminal the live progress line fits, so that each redraw overwrites it") {
  if (run_command("command -v script").exit_code != 0) {
    MESSAGE("skipped: no `script` (util-linux) to give the program a terminal");
    return;
  }
  TempDir out;
  const std::string train = binary("nice") +
                            " train data.dataset=two_moons data.toy_size=2000 model.hidden=16 model.hidden_layers=1"
                            " train.batch_size=64 device.threads=1 train.steps=300 train.eval_every=0"
                            " train.sample_every=0 train.checkpoint_every=0 run.out_dir=" +
                            out.path().string();
  for (int columns : {40, 59}) {
    auto result = run_command("script -qec 'stty cols " + std::to_string(columns) + "; " + train + "' /dev/null");
    INFO(result.output);
    REQUIRE(result.exit_code == 0);
    // Every redraw is "\r\033[K<line>": each such line must leave the last column free.
    size_t redraws = 0;
    for (size_t at = result.output.find("\r\033[K"); at != std::string::npos;
         at = result.output.find("\r\033[K", at + 1)) {
      size_t begin = at + 4, end = result.output.find_first_of("\r\n", begin);
      std::string line = result.output.substr(begin, end - begin);
      CHECK_MESSAGE(line.size() < size_t(columns), line);
      CHECK(line.rfind("step ", 0) == 0);
      ++redraws;
    }
    CHECK(redraws >= 1);
  }
}
