// Planning a sweep: values split only at top-level commas, the grid in Hydra's order, each point's
// meta.json field decoded from its index, and every point validated before anything runs.
#include <doctest/doctest.h>

#include "base/errors.hpp"
#include "base/sweep.hpp"

using namespace genbox;

namespace {
using Strings = std::vector<std::string>;

std::string usage_error(const Strings& overrides) {
  try {
    plan_sweep(overrides);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("sweep values split at top-level commas, never inside lists, tables or quotes") {
  CHECK(split_sweep_values("k", "1e-3,3e-4") == Strings{"1e-3", "3e-4"});
  CHECK(split_sweep_values("k", "[1,2],[3,4]") == Strings{"[1,2]", "[3,4]"});
  CHECK(split_sweep_values("k", "\"a,b\",c") == Strings{"\"a,b\"", "c"});
  CHECK(split_sweep_values("k", "'x,y'") == Strings{"'x,y'"});
  CHECK(split_sweep_values("k", "\"q\\\",r\",s") == Strings{"\"q\\\",r\"", "s"});  // an escaped quote stays inside
  CHECK(split_sweep_values("k", "{a=1,b=2}") == Strings{"{a=1,b=2}"});
  CHECK(split_sweep_values("k", "single") == Strings{"single"});
  CHECK_THROWS_AS(split_sweep_values("k", "1,,2"), UsageError);
  CHECK_THROWS_AS(split_sweep_values("k", "1,"), UsageError);
}

TEST_CASE("a sweep's grid is every combination, the last key varying fastest, fixed keys apart") {
  SweepPlan plan = plan_sweep({"optim.lr=1e-3,3e-4", "train.steps=5", "run.seed=0,1,2"});
  CHECK(plan.fixed == Strings{"train.steps=5"});
  REQUIRE(plan.axes.size() == 2);
  CHECK(plan.axes[0].key == "optim.lr");
  CHECK(plan.axes[1].values == Strings{"0", "1", "2"});
  CHECK(plan.size() == 6);
  const std::vector<Strings> points = plan.points();
  REQUIRE(points.size() == 6);
  CHECK(points[0] == Strings{"optim.lr=1e-3", "run.seed=0"});
  CHECK(points[1] == Strings{"optim.lr=1e-3", "run.seed=1"});
  CHECK(points[3] == Strings{"optim.lr=3e-4", "run.seed=0"});
  CHECK(points[5] == Strings{"optim.lr=3e-4", "run.seed=2"});
}

TEST_CASE("each point's sweep field holds the values of the same point of the grid") {
  SweepPlan plan = plan_sweep({"a=1,2,3", "b=x,y", "c=[1,2],[3]", "d=7"});
  const std::vector<Strings> points = plan.points();
  REQUIRE(points.size() == 12);
  for (size_t i = 0; i < points.size(); ++i) {
    CAPTURE(i);
    nlohmann::json field = sweep_field("id-1", plan, int64_t(i + 1));
    CHECK(field["id"] == "id-1");
    CHECK(field["index"] == i + 1);
    CHECK(field["size"] == 12);
    CHECK(field["keys"] == nlohmann::json::array({"a", "b", "c"}));
    Strings from_field;
    for (const std::string key : {"a", "b", "c"})
      from_field.push_back(key + "=" + field["values"][key].get<std::string>());
    CHECK(from_field == points[i]);
  }
}

TEST_CASE("a sweep without several values, with a key twice, or too large is refused in one line") {
  CHECK(usage_error({"optim.lr=1e-3"}).find("sweep needs a key with several values") != std::string::npos);
  CHECK(usage_error({}).find("sweep needs a key with several values") != std::string::npos);
  CHECK(usage_error({"a=1,2", "a=3"}).find("a is given twice") != std::string::npos);
  auto values = [](const std::string& key, int n) {
    std::string text = key + "=0";
    for (int i = 1; i < n; ++i) text += "," + std::to_string(i);
    return text;
  };
  CHECK(usage_error({values("a", 100), values("b", 101)}).find("more than 10000 points") != std::string::npos);
  CHECK(usage_error({values("a", 100), values("b", 100)}).empty());
}

TEST_CASE("every point is resolved before any runs; a bad one is named with its values") {
  struct {
    int64_t steps = 10;
    double lr = 1e-3;
  } settings;
  Schema schema;
  schema.add("train.steps", settings.steps, 1, 1000, "steps");
  schema.add("optim.lr", settings.lr, 0.0, 1.0, "learning rate");
  CommandLine cli;
  cli.program = "prog";
  cli.command = "sweep";

  std::vector<std::pair<int64_t, Strings>> seen;
  std::vector<std::pair<int64_t, double>> resolved;
  SweepPlan good = plan_sweep({"optim.lr=0.1,0.2", "train.steps=3,4"});
  validate_sweep(schema, cli, good, [&](int64_t index, const Strings& overrides) {
    seen.push_back({index, overrides});
    resolved.push_back({settings.steps, settings.lr});
  });
  REQUIRE(seen.size() == 4);
  CHECK(seen[2].first == 3);
  CHECK(seen[2].second == Strings{"optim.lr=0.2", "train.steps=3"});
  CHECK(resolved == std::vector<std::pair<int64_t, double>>{{3, 0.1}, {4, 0.1}, {3, 0.2}, {4, 0.2}});

  SweepPlan bad = plan_sweep({"optim.lr=0.1,5", "train.steps=3"});
  std::string message;
  try {
    validate_sweep(schema, cli, bad);
  } catch (const ConfigError& e) {
    message = e.what();
  }
  CHECK(message.rfind("sweep point 2 of 2 (optim.lr=5): ", 0) == 0);
  CHECK(message.find("optim.lr") != std::string::npos);
}
