#include "common/program.hpp"

#include <fmt/format.h>
#include <torch/cuda.h>
#include <torch/nn/module.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdlib>

#include "base/errors.hpp"

namespace genbox {

int run_program(int argc, char** argv, const std::string& program, const std::vector<CommandSpec>& commands,
                Schema& schema, const std::function<int(const CommandLine&)>& run) {
  try {
    CommandLine cli = parse_command_line(argc, argv, program, commands);
    resolve_config(schema, cli);
    if (!cli.print_config.empty()) {
      fmt::print("{}", cli.print_config == "markdown" ? schema.to_markdown() : schema.to_toml(true));
      return kExitOk;
    }
    return run(cli);
  } catch (const UsageError& e) {
    fmt::print(stderr, "{}: {}\n", program, e.what());
    return kExitUsage;
  } catch (const ConfigError& e) {
    fmt::print(stderr, "{}: config error: {}\n", program, e.what());
    return kExitUsage;
  } catch (const DataError& e) {
    fmt::print(stderr, "{}: data error: {}\n", program, e.what());
    return kExitData;
  } catch (const DistributedError& e) {
    fmt::print(stderr, "{}: {}\n", program, e.what());
    return kExitDistributed;
  }
}

int64_t parameter_count(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

int64_t nan_fault_step() {
  const char* value = std::getenv("GENBOX_FAULT_NAN_AT_STEP");
  return value ? std::atoll(value) : -1;
}

double timed_seconds(const std::function<void()>& work, int64_t repeats, const c10::Device& device) {
  auto synchronize = [&] {
    if (device.is_cuda()) torch::cuda::synchronize(device.index() < 0 ? -1 : device.index());
  };
  work();
  synchronize();
  auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < repeats; ++i) work();
  synchronize();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double matmul_gflops(int64_t m, int64_t k, int64_t n, c10::ScalarType dtype, const c10::Device& device) {
  torch::Tensor a = torch::randn({m, k}, torch::TensorOptions().device(device).dtype(dtype));
  torch::Tensor b = torch::randn({k, n}, a.options());
  const int64_t repeats = 20;
  double seconds = timed_seconds([&] { torch::mm(a, b); }, repeats, device);
  return 2.0 * double(m) * double(k) * double(n) * double(repeats) / seconds / 1e9;
}

void print_bench(World& world, nlohmann::json result,
                 const std::vector<std::pair<std::string, std::pair<double, double>>>& examples_per_s) {
  for (const auto& [key, figures] : examples_per_s) {
    const auto [examples, seconds] = figures;
    if (!world.distributed()) {
      result[key] = examples / seconds;
      continue;
    }
    std::vector<std::string> ranks = world.gather_strings(fmt::format("{} {}", examples, seconds));
    double total = 0, slowest = 0;
    nlohmann::json per_rank = nlohmann::json::array();
    for (const std::string& r : ranks) {
      double e = std::stod(r.substr(0, r.find(' '))), s = std::stod(r.substr(r.find(' ') + 1));
      total += e;
      slowest = std::max(slowest, s);
      per_rank.push_back(e / s);
    }
    result[key] = total / slowest;
    result["rank_" + key] = per_rank;
  }
  if (world.distributed()) {
    result["world_size"] = world.size();
    result["backend"] = world.backend_name();
  }
  if (world.is_main()) fmt::print("{}\n", result.dump());
}

}  // namespace genbox
