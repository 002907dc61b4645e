// The command line shared by every experiment binary:
//   <exp> train [-c FILE.toml ...] [key.path=value ...] [--resume RUN_DIR] [--print-config[=markdown]]
//   <exp> sample|eval|... RUN_DIR [--n N] [key=value ...]
//   <exp> bench [-c FILE.toml ...] [key=value ...]
//   <exp> sweep [-c FILE.toml ...] key=a,b [key=value ...]   (base/sweep.hpp)
//   <exp> [<command>] --help,  <exp> --version
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/config.hpp"

namespace genbox {

// A command's own `--name N` flag: an integer checked against [min, max] as it is parsed.
struct IntegerOption {
  std::string name;
  int64_t min, max;
  std::string doc;
};

// A command's own `--name FILE` flag: a path, required by the command.
struct FileOption {
  std::string name;
  std::string doc;
};

// A positional argument a command requires, in order after the command ("SOURCE", "A", "B").
struct Positional {
  std::string name;
  std::string doc;
};

struct CommandSpec {
  std::string name;
  bool takes_run_dir;
  std::vector<IntegerOption> options;
  std::string help;
  std::vector<FileOption> file_options = {};
  std::vector<Positional> positionals = {};
};

struct CommandLine {
  std::string program;
  std::string command;
  std::string executable;                 // argv[0], as the user started the program
  std::string run_dir;                    // the RUN_DIR of commands that work on an existing run
  std::vector<std::string> config_files;  // each -c FILE, in order: later files win
  std::string resume_dir;                 // --resume RUN_DIR
  std::vector<std::string> overrides;
  std::string print_config;                  // "", "toml" or "markdown"
  std::map<std::string, int64_t> options;    // --name N, the command's own flags, within their ranges
  std::map<std::string, std::string> files;  // --name FILE, every file option of the command
  std::vector<std::string> arguments;        // the command's positionals, in order
  bool help = false;                         // --help: print help_text() and exit 0
  bool version = false;                      // --version: print the versions and exit 0
  std::string text;                          // the whole command line, for meta.json

  std::optional<int64_t> integer_option(const std::string& name) const;
};

// Throws UsageError on anything it does not understand: a bad option value in one line, an
// unknown command with the usage of every command, other mistakes with the command's synopsis.
CommandLine parse_command_line(int argc, char** argv, const std::string& program,
                               const std::vector<CommandSpec>& commands);

// Every command's synopsis, for `<exp> --help` and an unknown command.
std::string usage_text(const std::string& program, const std::vector<CommandSpec>& commands);
// What --help prints: usage_text() without a command, else the command's synopsis and options.
std::string help_text(const CommandLine& cli, const std::vector<CommandSpec>& commands);

// Fills the schema's targets: for a new run, built-in defaults, then each -c FILE in order,
// then overrides; for an existing run (RUN_DIR or --resume), its config.toml, then overrides.
// An existing run of another program is a UsageError naming the program to use.
void resolve_config(Schema& schema, const CommandLine& cli);

}  // namespace genbox
