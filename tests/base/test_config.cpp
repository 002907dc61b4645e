#include <doctest/doctest.h>

#include <functional>

#include "base/config.hpp"
#include "tests/support.hpp"

using namespace genbox;
using genbox::testing::TempDir;

namespace {
struct Example {
  int64_t steps = 100;
  double lr = 1e-3;
  bool flag = false;
  std::string name = "run";
  std::string prior = "logistic";
  std::vector<int64_t> dims = {64, 128};
  std::vector<double> scales = {1.0, 2.5};
};

Schema describe(Example& e) {
  Schema s;
  s.add("train.steps", e.steps, 1, 1000000, "steps");
  s.add("optim.lr", e.lr, 0.0, 10.0, "learning rate");
  s.add("model.flag", e.flag, "a switch");
  s.add("run.name", e.name, "a name");
  s.add_choice("model.prior", e.prior, {"logistic", "gaussian"}, "prior");
  s.add("model.dims", e.dims, 1, 4096, "widths");
  s.add("eval.scales", e.scales, 0.0, 10.0, "guidance scales");
  return s;
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("edit distance counts insertions, deletions and substitutions") {
  CHECK(edit_distance("", "") == 0);
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("train.step", "train.steps") == 1);
  CHECK(edit_distance("abc", "") == 3);
}

TEST_CASE("a valid file sets every kind of value") {
  Example e;
  Schema s = describe(e);
  TempDir dir;
  genbox::testing::write_text(dir / "c.toml",
                              "[train]\nsteps = 42\n[optim]\nlr = 2\n[model]\nflag = true\nprior = \"gaussian\"\n"
                              "dims = [1, 2, 3]\n[run]\nname = \"x\"\n");
  s.load_file((dir / "c.toml").string());
  CHECK(e.steps == 42);
  CHECK(e.lr == 2.0);
  CHECK(e.flag);
  CHECK(e.prior == "gaussian");
  CHECK(e.dims == std::vector<int64_t>{1, 2, 3});
  CHECK(e.name == "x");
}

TEST_CASE("an unknown key names file, line, column and the nearest key") {
  Example e;
  Schema s = describe(e);
  TempDir dir;
  std::string path = (dir / "typo.toml").string();
  genbox::testing::write_text(path, "[train]\nsteps = 5\n  setps = 10\n");
  CHECK(error_of([&] { s.load_file(path); }) == path + ":3:3: unknown key 'train.setps'; did you mean 'train.steps'?");
}

TEST_CASE("an unknown section is reported through its key") {
  Example e;
  Schema s = describe(e);
  std::string message = error_of([&] { s.load_string("[optm]\nlr = 0.1\n", "x.toml"); });
  CHECK(message == "x.toml:2:1: unknown key 'optm.lr'; did you mean 'optim.lr'?");
}

TEST_CASE("a wrong type names the position and what was expected") {
  Example e;
  Schema s = describe(e);
  CHECK(error_of([&] { s.load_string("[train]\nsteps = \"many\"\n", "x.toml"); }) ==
        "x.toml:2:9: 'train.steps' expects an integer in [1, 1000000], got a string (\"many\")");
  CHECK(error_of([&] { s.load_string("[train]\nsteps = 1.5\n", "x.toml"); }) ==
        "x.toml:2:9: 'train.steps' expects an integer in [1, 1000000], got a float (1.5)");
  CHECK(error_of([&] {
          s.load_string("[model]\ndims = [1, \"a\"]\n", "x.toml");
        }).find("'model.dims' expects an array of integers each in [1, 4096]") != std::string::npos);
}

TEST_CASE("a lone integer is a list of one for an integer-list key, within the same range") {
  Example e;
  Schema s = describe(e);
  s.load_string("[model]\ndims = 64\n", "x.toml");
  CHECK(e.dims == std::vector<int64_t>{64});
  CHECK(s.to_toml(false).find("dims = [64]") != std::string::npos);
  CHECK(error_of([&] { s.load_string("[model]\ndims = 0\n", "x.toml"); }) ==
        "x.toml:2:8: 'model.dims' = 0 is out of range; expected an array of integers each in [1, 4096]");
}

TEST_CASE("an out-of-range value names the range") {
  Example e;
  Schema s = describe(e);
  CHECK(error_of([&] { s.load_string("[train]\nsteps = 0\n", "x.toml"); }) ==
        "x.toml:2:9: 'train.steps' = 0 is out of range; expected an integer in [1, 1000000]");
  CHECK(error_of([&] { s.load_string("[optim]\nlr = -1e-3\n", "x.toml"); }) ==
        "x.toml:2:6: 'optim.lr' = -0.001 is out of range; expected a float in [0, 10]");
  CHECK(e.steps == 100);
}

TEST_CASE("a choice outside its set suggests the nearest choice") {
  Example e;
  Schema s = describe(e);
  CHECK(error_of([&] { s.apply_override("model.prior=gausian"); }) ==
        "override 'model.prior=gausian': 'model.prior' = \"gausian\" is not one of \"logistic\", "
        "\"gaussian\"; did you mean \"gaussian\"?");
}

TEST_CASE("a TOML syntax error keeps its position") {
  Example e;
  Schema s = describe(e);
  std::string message = error_of([&] { s.load_string("[train]\nsteps = = 3\n", "x.toml"); });
  CHECK(message.rfind("x.toml:2:", 0) == 0);
}

TEST_CASE("overrides use TOML values, and bare words are strings") {
  Example e;
  Schema s = describe(e);
  s.apply_override("train.steps=7");
  s.apply_override("optim.lr=3e-4");
  s.apply_override("model.dims=[8,16]");
  s.apply_override("run.name=baseline");
  s.apply_override("model.flag=true");
  s.apply_override("eval.scales=[0, 1.5, 4]");
  CHECK(e.scales == std::vector<double>{0.0, 1.5, 4.0});
  CHECK_THROWS_WITH(s.apply_override("eval.scales=[1, 11]"),
                    doctest::Contains("is out of range; expected an array of floats each in [0, 10]"));
  CHECK(e.steps == 7);
  CHECK(e.lr == 3e-4);
  CHECK(e.dims == std::vector<int64_t>{8, 16});
  CHECK(e.name == "baseline");
  CHECK(e.flag);
}

TEST_CASE("bad overrides are errors that name the override") {
  Example e;
  Schema s = describe(e);
  CHECK(error_of([&] { s.apply_override("train.stepz=3"); }) ==
        "override 'train.stepz=3': unknown key 'train.stepz'; did you mean 'train.steps'?");
  CHECK(error_of([&] { s.apply_override("train.steps=abc"); }) ==
        "override 'train.steps=abc': 'train.steps' expects an integer in [1, 1000000], got a string (\"abc\")");
  CHECK(error_of([&] { s.apply_override("=3"); }) == "override '=3': expected key.path=value");
}

TEST_CASE("to_toml writes every key and reads back to the same values") {
  Example written;
  Schema s = describe(written);
  s.apply_override("optim.lr=0.1");
  s.apply_override("run.name=\"a \\\"quoted\\\" name\"");
  std::string text = s.to_toml(true);
  CHECK(text.find("# learning rate (a float in [0, 10])\nlr = 0.1\n") != std::string::npos);
  Example read;
  Schema t = describe(read);
  t.load_string(text, "resolved.toml");
  CHECK(read.lr == 0.1);
  CHECK(read.name == "a \"quoted\" name");
  CHECK(read.steps == written.steps);
  CHECK(read.dims == written.dims);
  CHECK(read.scales == written.scales);
  CHECK(t.to_toml(false) == s.to_toml(false));
}

TEST_CASE("the markdown table has one row per key with its default") {
  Example e;
  Schema s = describe(e);
  std::string table = s.to_markdown();
  CHECK(std::count(table.begin(), table.end(), '\n') == 2 + 7);
  CHECK(table.find("| `train.steps` | `100` | an integer in [1, 1000000] | steps |") != std::string::npos);
}

TEST_CASE("a number, boolean or date where a string is wanted says how to quote it") {
  Example e;
  Schema s = describe(e);
  CHECK(error_of([&] { s.apply_override("run.name=1e-3"); }) ==
        "override 'run.name=1e-3': 'run.name' expects a string, got the number 1e-3; quote it: run.name='\"1e-3\"'");
  CHECK(error_of([&] { s.apply_override("run.name=true"); }) ==
        "override 'run.name=true': 'run.name' expects a string, got the boolean true; quote it: run.name='\"true\"'");
  CHECK(error_of([&] {
          s.apply_override("model.prior=0x1F");
        }).find("got the number 0x1F; quote it: model.prior='\"0x1F\"'") != std::string::npos);
  CHECK(error_of([&] { s.load_string("[run]\nname = 2024-01-02\n", "x.toml"); }) ==
        "x.toml:2:8: 'run.name' expects a string, got the date 2024-01-02; quote it: \"2024-01-02\"");
  // The file's own spelling, on a later line and past a multi-byte key on the same line (toml++
  // counts columns in code points; the keys of a table are visited in sorted order).
  CHECK(error_of([&] { s.load_string("# caf\xc3\xa9\n[run]\nname = 1e-3 # why\n", "y.toml"); }) ==
        "y.toml:3:8: 'run.name' expects a string, got the number 1e-3; quote it: \"1e-3\"");
  CHECK(error_of([&] { s.load_string("model = { \"z\xc3\xa9\" = 1, prior = 25e-1 }\n", "y.toml"); }) ==
        "y.toml:1:29: 'model.prior' expects one of \"logistic\", \"gaussian\", got the number 25e-1; quote it: "
        "\"25e-1\"");
  CHECK(error_of([&] { s.load_string("run = { name = 1_000 }\n", "z.toml"); }) ==
        "z.toml:1:16: 'run.name' expects a string, got the number 1_000; quote it: \"1_000\"");
  // Quoted, it is the string.
  s.apply_override("run.name=\"1e-3\"");
  CHECK(e.name == "1e-3");
}
