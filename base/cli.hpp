// The command line shared by every experiment binary:
//   <exp> train [-c FILE.toml] [key.path=value ...] [--resume RUN_DIR] [--print-config[=markdown]]
//   <exp> sample|eval|... RUN_DIR [--n N] [key=value ...]
//   <exp> bench [-c FILE.toml] [key=value ...]
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/config.hpp"

namespace genbox {

struct CommandLine {
  std::string command;
  std::string run_dir;      // the RUN_DIR of commands that work on an existing run
  std::string config_file;  // -c FILE
  std::string resume_dir;   // --resume RUN_DIR
  std::vector<std::string> overrides;
  std::string print_config;                    // "", "toml" or "markdown"
  std::map<std::string, std::string> options;  // --name value, for the experiment's own flags
  std::string text;                            // the whole command line, for meta.json

  std::optional<int64_t> integer_option(const std::string& name) const;
};

struct CommandSpec {
  std::string name;
  bool takes_run_dir;
  std::vector<std::string> options;  // allowed --flags taking a value
  std::string help;
};

// Throws UsageError with the usage text on anything it does not understand.
CommandLine parse_command_line(int argc, char** argv, const std::string& program,
                               const std::vector<CommandSpec>& commands);

std::string usage_text(const std::string& program, const std::vector<CommandSpec>& commands);

// Fills the schema's targets: for a new run, built-in defaults, then -c FILE, then overrides;
// for an existing run (RUN_DIR or --resume), its config.toml, then overrides.
void resolve_config(Schema& schema, const CommandLine& cli);

}  // namespace genbox
