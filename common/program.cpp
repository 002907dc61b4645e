#include "common/program.hpp"

#include <ATen/Version.h>

#include <fstream>

#include <malloc.h>

#include <ATen/record_function.h>
#include <fmt/format.h>
#include <torch/cuda.h>
#include <torch/nn/module.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>

#include "base/errors.hpp"
#include "base/sweep.hpp"
#include "base/version.hpp"
#include "common/device.hpp"

namespace genbox {

namespace {
std::string program_name = "genbox";
std::function<void(const std::string&)> fatal_hook;

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// The message of the exception in flight, one line, without LibTorch's backtrace.
std::string current_message() {
  try {
    throw;
  } catch (const c10::Error& e) {
    return first_line(e.what_without_backtrace());
  } catch (const std::exception& e) {
    return first_line(e.what());
  } catch (...) {
    return "an unknown error";
  }
}

// Whatever still escapes (an exception on another thread, one thrown during unwinding) ends
// here: one line, the run marked failed, exit 3; never an abort with a stack trace.
[[noreturn]] void on_terminate() {
  std::string what = std::current_exception() ? [] {
    try {
      std::rethrow_exception(std::current_exception());
    } catch (...) {
      return current_message();
    }
  }()
                                              : std::string("terminate called without an exception");
  std::fprintf(stderr, "%s: fatal error: %s\n", program_name.c_str(), what.c_str());
  if (fatal_hook) {
    try {
      fatal_hook(what);
    } catch (...) {
    }
  }
  std::_Exit(kExitData);
}
// `<exp> sweep`: plan and validate every point before the first runs; --print-config prints
// each point's config instead of running it.
int sweep(const CommandLine& cli, Schema& schema) {
  const char* world_size = std::getenv("WORLD_SIZE");
  if (world_size && std::atoi(world_size) > 1)
    throw UsageError(
        "sweep runs its points one after another in one process; under torchrun, launch each "
        "point's train instead");
  const SweepPlan plan = plan_sweep(cli.overrides);
  const bool dry_run = !cli.print_config.empty();
  validate_sweep(schema, cli, plan, [&](int64_t index, const std::vector<std::string>& overrides) {
    if (dry_run)
      fmt::print("# point {} of {}: {}\n{}\n", index, plan.size(), point_text(overrides), schema.to_toml(false));
  });
  if (dry_run) return kExitOk;
  return run_sweep(cli, plan, schema.string_value("run.out_dir"));
}
}  // namespace

CommandSpec sweep_command() {
  return {"sweep", false, {}, "train once per point of a grid of config values (key=a,b), one run after another"};
}

void on_fatal_error(std::function<void(const std::string&)> hook) { fatal_hook = std::move(hook); }

std::string version_text() {
  // The CUDA hooks answer only when libtorch_cuda is linked: a CPU-only torch has no runtime.
  const at::CUDAHooksInterface& cuda = at::detail::getCUDAHooks();
  const long runtime = cuda.hasCUDART() ? cuda.versionCUDART() : 0;
  return fmt::format("genbox {}\ncommit {}\ntorch {}\ncuda {}\n", genbox_version(), genbox_git_commit(), TORCH_VERSION,
                     runtime > 0 ? fmt::format("{}.{}", runtime / 1000, runtime % 1000 / 10) : "none");
}

int run_program(int argc, char** argv, const std::string& program, const std::vector<CommandSpec>& commands,
                Schema& schema, const std::function<int(const CommandLine&)>& run) {
  program_name = program;
  std::set_terminate(on_terminate);
  // A closed stdout pipe makes writes fail instead of killing the run.
  std::signal(SIGPIPE, SIG_IGN);
  // A training step frees and reallocates the same activation and gradient buffers every step.
  // glibc would hand the large ones back to the kernel (mmap, heap trimming) and take page
  // faults to get them again; keeping them in the heap makes NICE's CPU step about 3% faster.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  // At exit the CUDA libraries' destructors page in about 100 MiB of their own, on a CPU run too;
  // handing the heap's free pages back first keeps that from stacking on the run's retained heap
  // as the process's peak. Exit handlers run in reverse order, so this one runs before theirs.
  std::atexit([] { malloc_trim(0); });
  try {
    CommandLine cli = parse_command_line(argc, argv, program, commands);
    if (cli.help) {
      fmt::print("{}", help_text(cli, commands));
      return kExitOk;
    }
    if (cli.version) {
      fmt::print("{}", version_text());
      return kExitOk;
    }
    if (cli.command == "sweep") return sweep(cli, schema);
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
  } catch (const NonFiniteError& e) {
    fmt::print(stderr, "{}: {}\n", program, e.what());
    return kExitNonFinite;
  } catch (const std::filesystem::filesystem_error& e) {
    fmt::print(stderr, "{}: I/O error: {}: {}\n", program, e.path1().string(), e.code().message());
    return kExitData;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "{}: out of memory\n", program);
    return kExitData;
  } catch (...) {
    // LibTorch's c10::Error and any other exception: one line, never a backtrace.
    fmt::print(stderr, "{}: error: {}\n", program, current_message());
    return kExitData;
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

void wait_for_device(const c10::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index() < 0 ? -1 : device.index());
}

double seconds_of(const std::function<void()>& work, int64_t repeats, const c10::Device& device) {
  wait_for_device(device);
  auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < repeats; ++i) work();
  wait_for_device(device);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double timed_seconds(const std::function<void()>& work, int64_t repeats, const c10::Device& device) {
  work();
  return seconds_of(work, repeats, device);
}

int64_t dispatched_ops(const std::function<void()>& work) {
  static std::atomic<int64_t> calls{0};
  calls = 0;
  auto count = [](const at::RecordFunction&) -> std::unique_ptr<at::ObserverContext> {
    calls.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  };
  const at::CallbackHandle handle =
      at::addGlobalCallback(at::RecordFunctionCallback(+count).scopes({at::RecordScope::FUNCTION}));
  try {
    work();
  } catch (...) {
    at::removeCallback(handle);
    throw;
  }
  at::removeCallback(handle);
  return calls.load();
}

namespace {

// /proc/cpuinfo's first "model name", or "unknown".
std::string cpu_model_name() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);)
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
      const size_t start = line.find_first_not_of(' ', line.find(':') + 1);
      return start == std::string::npos ? "unknown" : line.substr(start);
    }
  return "unknown";
}

}  // namespace

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
  // Figures differ between CPUs of one family by their vector width: every line says which ran it.
  result["cpu_model"] = cpu_model_name();
  result["cpu_capability"] = at::get_cpu_capability();
  result["cpu_native_bf16"] = cpu_has_native_bf16();
  if (world.is_main()) fmt::print("{}\n", result.dump());
}

}  // namespace genbox
