#include "base/cli.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "base/errors.hpp"

namespace genbox {

std::optional<int64_t> CommandLine::integer_option(const std::string& name) const {
  auto it = options.find(name);
  if (it == options.end()) return std::nullopt;
  try {
    size_t used = 0;
    int64_t value = std::stoll(it->second, &used);
    // Every such option counts something (samples, steps): zero or fewer is a mistake.
    if (used == it->second.size() && value >= 1) return value;
  } catch (const std::exception&) {
  }
  throw UsageError(fmt::format("--{} expects a positive integer, got '{}'", name, it->second));
}

std::string usage_text(const std::string& program, const std::vector<CommandSpec>& commands) {
  std::string out = fmt::format("usage: {} <command> ...\n", program);
  for (const CommandSpec& c : commands) {
    std::string options;
    for (const std::string& o : c.options) options += fmt::format(" [--{} X]", o);
    std::string args = c.takes_run_dir ? " RUN_DIR" : " [-c FILE.toml] [--print-config[=markdown]]";
    if (c.name == "train") args += " [--resume RUN_DIR]";
    out += fmt::format("  {} {}{}{} [key.path=value ...]\n      {}\n", program, c.name, args, options, c.help);
  }
  return out;
}

CommandLine parse_command_line(int argc, char** argv, const std::string& program,
                               const std::vector<CommandSpec>& commands) {
  CommandLine cli;
  for (int i = 0; i < argc; ++i) cli.text += (i ? " " : "") + std::string(argv[i]);
  auto usage = [&](const std::string& why) { return UsageError(why + "\n" + usage_text(program, commands)); };
  if (argc < 2) throw usage("missing command");
  cli.command = argv[1];
  if (cli.command == "-h" || cli.command == "--help") throw usage("");
  const CommandSpec* spec = nullptr;
  for (const CommandSpec& c : commands)
    if (c.name == cli.command) spec = &c;
  if (!spec) throw usage(fmt::format("unknown command '{}'", cli.command));

  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const std::string& flag) -> std::string {
      if (i + 1 >= argc) throw usage(flag + " needs a value");
      return argv[++i];
    };
    if (arg == "-c" || arg == "--config") {
      cli.config_file = value(arg);
    } else if (arg == "--resume" && spec->name == "train") {
      cli.resume_dir = value(arg);
    } else if (arg == "--print-config" || arg == "--print-config=toml") {
      cli.print_config = "toml";
    } else if (arg == "--print-config=markdown") {
      cli.print_config = "markdown";
    } else if (arg.rfind("--", 0) == 0) {
      std::string name = arg.substr(2);
      std::string given;
      if (size_t eq = name.find('='); eq != std::string::npos) {
        given = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      bool known = false;
      for (const std::string& o : spec->options) known = known || o == name;
      if (!known) throw usage(fmt::format("unknown option '{}' for '{}'", arg, spec->name));
      cli.options[name] = given.empty() ? value(arg) : given;
    } else if (arg.find('=') != std::string::npos) {
      cli.overrides.push_back(arg);
    } else if (spec->takes_run_dir && cli.run_dir.empty()) {
      cli.run_dir = arg;
    } else {
      throw usage(fmt::format("unexpected argument '{}'", arg));
    }
  }
  if (spec->takes_run_dir && cli.run_dir.empty()) throw usage(fmt::format("'{}' needs a RUN_DIR", spec->name));
  if (!cli.resume_dir.empty() && !cli.config_file.empty())
    throw usage("--resume takes the run's own config.toml; give changes as key=value overrides");
  return cli;
}

void resolve_config(Schema& schema, const CommandLine& cli) {
  std::string existing_run = !cli.run_dir.empty() ? cli.run_dir : cli.resume_dir;
  if (!existing_run.empty()) {
    std::string path = (std::filesystem::path(existing_run) / "config.toml").string();
    if (!std::filesystem::exists(path))
      throw UsageError(fmt::format("{} is not a run directory: {} is missing", existing_run, path));
    schema.load_file(path);
  } else if (!cli.config_file.empty()) {
    if (std::filesystem::is_directory(cli.config_file))
      throw UsageError(fmt::format("-c {}: is a directory, not a TOML file", cli.config_file));
    schema.load_file(cli.config_file);
  }
  for (const std::string& o : cli.overrides) schema.apply_override(o);
  schema.validate();
}

}  // namespace genbox
