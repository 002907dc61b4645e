// What every experiment program does around its own commands: the entry point that turns usage,
// config and data errors into a message and an exit code, the test hook for non-finite losses,
// and the benchmark timer.
#pragma once

#include <c10/core/Device.h>

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/cli.hpp"
#include "base/config.hpp"
#include "common/distributed.hpp"

namespace torch::nn {
class Module;
}

namespace genbox {

// Parses the command line, answers --help and --version (on stdout, exit 0), resolves the config
// bound to `schema` (files, then overrides), prints it for --print-config, and otherwise returns
// run(cli). Every error becomes one line on stderr, "<program>: ...", and an exit code:
// UsageError and ConfigError 2; DataError, I/O errors, out of memory and any other exception
// (LibTorch's included) 3; NonFiniteError 4; DistributedError 5. An exception that escapes even
// that (another thread's) prints one line, calls the on_fatal_error hook and exits 3. SIGPIPE is
// ignored: a closed pipe fails writes.
int run_program(int argc, char** argv, const std::string& program, const std::vector<CommandSpec>& commands,
                Schema& schema, const std::function<int(const CommandLine&)>& run);

// The `sweep` command (base/sweep.hpp), as every program lists it. run_program answers it: each
// point is validated, then run as this program's `train`; under torchrun it is refused.
CommandSpec sweep_command();

// What --version prints, one line each: genbox's version, the commit it was built from, the
// torch version and the CUDA version torch was built with ("none" for a CPU-only torch).
std::string version_text();

// Called with the message when a fatal error ends the process (a run marks itself failed).
void on_fatal_error(std::function<void(const std::string&)> hook);

int64_t parameter_count(const torch::nn::Module& module);

// Test-only fault injection: with GENBOX_FAULT_NAN_AT_STEP=k set, the training loops make the
// loss of step k NaN; -1 when unset.
int64_t nan_fault_step();

// Returns once the device's queued work is done (CUDA); on the CPU work is done when issued.
void wait_for_device(const c10::Device& device);

// Seconds taken by `repeats` calls of work, CUDA work waited for on both ends.
double seconds_of(const std::function<void()>& work, int64_t repeats, const c10::Device& device);

// Seconds taken by `repeats` calls of work, after one untimed warm-up call (allocations and
// kernel selection are not what a benchmark measures); CUDA work is waited for on both ends.
double timed_seconds(const std::function<void()>& work, int64_t repeats, const c10::Device& device);

// How many ATen operator calls `work` dispatches, nested ones included (each passes through the
// dispatcher): the host's share of a step, counted rather than timed, so it does not depend on
// how fast or loaded the machine is.
int64_t dispatched_ops(const std::function<void()>& work);

// A bench's throughput figures, one JSON line printed by rank 0, with the CPU's model name and
// ATen's CPU capability ("AVX2", "AVX512"). `examples_per_s` maps a key
// ("train_examples_per_s") to (this rank's examples, its seconds): under torchrun the line
// gives the global figure (all ranks' examples over the slowest rank's time) under the key and
// each rank's own under "rank_<key>", with world_size and backend.
void print_bench(World& world, nlohmann::json result,
                 const std::vector<std::pair<std::string, std::pair<double, double>>>& examples_per_s);

}  // namespace genbox
