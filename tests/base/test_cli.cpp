// The shared command line: help and version requests, integer options and their ranges, -c files
// merged in order, and a run directory that belongs to another program.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <functional>

#include "base/cli.hpp"
#include "base/errors.hpp"
#include "tests/support.hpp"

using namespace genbox;
using genbox::testing::TempDir;
using genbox::testing::write_text;

namespace {
const std::vector<CommandSpec> kCommands = {
    {"train", false, {}, "train a model"},
    {"sample", true, {{"n", 1, 500, "samples in the grid"}}, "write samples"},
    {"bench", false, {{"steps", 1, 100, "timed steps"}}, "measure"},
    {"score", false, {}, "compare two sets", {}, {{"A", "the first set"}, {"B", "the second set"}}},
};

CommandLine parse(std::vector<std::string> words) {
  words.insert(words.begin(), "prog");
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  return parse_command_line(int(argv.size()), argv.data(), "prog", kCommands);
}

std::string usage_error(const std::function<void()>& action) {
  try {
    action();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

struct Settings {
  int64_t steps = 10, hidden = 8;
  std::string name = "default";
};

Schema describe(Settings& s) {
  Schema schema;
  schema.add("train.steps", s.steps, 1, 1000, "steps");
  schema.add("model.hidden", s.hidden, 1, 1000, "width");
  schema.add("run.name", s.name, "name");
  return schema;
}
}  // namespace

TEST_CASE("--help and --version are requests, answered whatever else the line holds") {
  CHECK(parse({"--help"}).help);
  CHECK(parse({"-h"}).help);
  CommandLine sample_help = parse({"sample", "--help"});
  CHECK(sample_help.help);
  CHECK(sample_help.command == "sample");
  CHECK(parse({"sample", "--n", "0", "-h"}).help);  // no RUN_DIR, a bad --n: still help
  CHECK(parse({"--version"}).version);
  CHECK(parse({"train", "optim.lr=1", "--version"}).version);
  CHECK(usage_error([] { parse({"fly", "--help"}); }).find("unknown command 'fly'") != std::string::npos);
}

TEST_CASE("a command's help gives its synopsis, its options with their ranges and where the keys are") {
  std::string sample = help_text(parse({"sample", "--help"}), kCommands);
  CHECK(sample.rfind("usage: prog sample RUN_DIR [--n N] [key.path=value ...]", 0) == 0);
  CHECK(sample.find("write samples") != std::string::npos);
  CHECK(sample.find("--n N") != std::string::npos);
  CHECK(sample.find("samples in the grid, an integer in [1, 500]") != std::string::npos);
  CHECK(sample.find("`prog sample RUN_DIR --print-config`") != std::string::npos);
  CHECK(sample.find("-c, --config") == std::string::npos);
  std::string train = help_text(parse({"train", "--help"}), kCommands);
  CHECK(train.find("-c, --config FILE.toml") != std::string::npos);
  CHECK(train.find("a key in a later file replacing an earlier file's") != std::string::npos);
  CHECK(train.find("--resume RUN_DIR") != std::string::npos);
  std::string overview = help_text(parse({"--help"}), kCommands);
  CHECK(overview.rfind("usage: prog <command>", 0) == 0);
  CHECK(overview.find("prog bench [-c FILE.toml ...] [--steps N]") != std::string::npos);
  CHECK(overview.find("`prog <command> --help`") != std::string::npos);
}

TEST_CASE("integer options are checked against their range as they are parsed") {
  CHECK(parse({"sample", "run", "--n", "500"}).integer_option("n") == 500);
  CHECK(parse({"sample", "run", "--n=1"}).integer_option("n") == 1);
  CHECK_FALSE(parse({"sample", "run"}).integer_option("n").has_value());
  for (const char* bad : {"0", "-3", "abc", "501", "1.5", "", "5x", "99999999999999999999"}) {
    std::string message = usage_error([&] { parse({"sample", "run", "--n", bad}); });
    CHECK_MESSAGE(message == fmt::format("--n expects an integer in [1, 500], got '{}'", bad), bad);
    CHECK(usage_error([&] { parse({"sample", "run", std::string("--n=") + bad}); }) == message);
  }
  CHECK(usage_error([] { parse({"bench", "--steps", "0"}); }) == "--steps expects an integer in [1, 100], got '0'");
  CHECK(usage_error([] { parse({"sample", "run", "--n"}); }).rfind("--n needs a value", 0) == 0);
  CHECK(usage_error([] {
          parse({"sample", "run", "--m", "3"});
        }).find("usage: prog sample RUN_DIR") != std::string::npos);
  CHECK(usage_error([] { parse({"sample", "run", "-n", "3"}); }).rfind("unknown option '-n' for 'sample'", 0) == 0);
}

TEST_CASE("-c files are kept in order; a run's own commands refuse them") {
  CommandLine two = parse({"train", "-c", "a.toml", "--config", "b.toml", "x.y=1"});
  CHECK(two.config_files == std::vector<std::string>{"a.toml", "b.toml"});
  CHECK(usage_error([] {
          parse({"sample", "run", "-c", "a.toml"});
        }).rfind("'sample' takes the run's own config.toml, not -c", 0) == 0);
  CHECK(usage_error([] {
          parse({"train", "--resume", "run", "-c", "a.toml"});
        }).rfind("--resume takes the run's own config.toml", 0) == 0);
}

TEST_CASE("two -c files merge in order: a later file's keys win, and overrides win over both") {
  TempDir dir;
  write_text(dir / "a.toml", "[train]\nsteps = 7\n[model]\nhidden = 16\n");
  write_text(dir / "b.toml", "[train]\nsteps = 9\n");
  Settings s;
  Schema schema = describe(s);
  resolve_config(schema, parse({"train", "-c", (dir / "a.toml").string(), "-c", (dir / "b.toml").string()}));
  CHECK(s.steps == 9);
  CHECK(s.hidden == 16);

  Settings t;
  Schema again = describe(t);
  resolve_config(again,
                 parse({"train", "-c", (dir / "b.toml").string(), "-c", (dir / "a.toml").string(), "model.hidden=3"}));
  CHECK(t.steps == 7);
  CHECK(t.hidden == 3);
}

TEST_CASE("a run directory of another program names the program to use") {
  TempDir dir;
  write_text(dir / "config.toml", "[flow]\ntimesteps = \"uniform\"\n");
  write_text(dir / "meta.json", R"({"experiment": "rf_dit", "status": "finished"})");
  Settings s;
  Schema schema = describe(s);
  std::string run = dir.path().string();
  CHECK(usage_error([&] {
          resolve_config(schema, parse({"sample", run}));
        }) == run + " is a run of rf_dit, not of prog; use rf_dit sample");
  CHECK(usage_error([&] {
          resolve_config(schema, parse({"train", "--resume", run}));
        }) == run + " is a run of rf_dit, not of prog; use rf_dit train --resume");
  // Its own runs load as always.
  write_text(dir / "meta.json", R"({"experiment": "prog"})");
  write_text(dir / "config.toml", "[train]\nsteps = 3\n");
  resolve_config(schema, parse({"sample", run}));
  CHECK(s.steps == 3);
}

TEST_CASE("positional arguments are taken in order, each required, none extra") {
  const CommandLine cli = parse({"score", "x.npz", "fid.input=clean", "images/"});
  CHECK(cli.arguments == std::vector<std::string>{"x.npz", "images/"});
  CHECK(cli.overrides == std::vector<std::string>{"fid.input=clean"});
  CHECK(usage_error([] { parse({"score", "x.npz"}); }).find("'score' needs B") != std::string::npos);
  CHECK(usage_error([] { parse({"score", "a", "b", "c"}); }).find("unexpected argument 'c'") != std::string::npos);
  CHECK(usage_error([] { parse({"score"}); }).find("prog score [-c FILE.toml ...] A B") != std::string::npos);
  CHECK(parse({"score", "--print-config=markdown"}).print_config == "markdown");  // reads no inputs
}
