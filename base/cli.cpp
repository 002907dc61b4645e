#include "base/cli.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <utility>

#include "base/errors.hpp"
#include "base/fsutil.hpp"

namespace genbox {

namespace {

std::string synopsis(const std::string& program, const CommandSpec& c) {
  std::string args = c.takes_run_dir ? " RUN_DIR" : " [-c FILE.toml ...]";
  for (const Positional& p : c.positionals) args += " " + p.name;
  if (c.name == "train") args += " [--resume RUN_DIR]";
  if (c.name == "sweep") args += " key.path=a,b[,...] ...";
  for (const IntegerOption& o : c.options) args += fmt::format(" [--{} N]", o.name);
  for (const FileOption& o : c.file_options) args += fmt::format(" --{} FILE", o.name);
  return fmt::format("{} {}{} [key.path=value ...] [--print-config[=markdown]]", program, c.name, args);
}

// Rows of a two-column list, the second column aligned, its lines split at '\n'.
std::string rows(const std::vector<std::pair<std::string, std::string>>& items) {
  size_t width = 0;
  for (const auto& item : items) width = std::max(width, item.first.size());
  std::string out;
  for (const auto& [left, right] : items) {
    std::string indented = right;
    for (size_t at = indented.find('\n'); at != std::string::npos; at = indented.find('\n', at + 1))
      indented.insert(at + 1, width + 4, ' ');
    out += fmt::format("  {:<{}}  {}\n", left, width, indented);
  }
  return out;
}

std::string command_help(const std::string& program, const CommandSpec& c) {
  std::vector<std::pair<std::string, std::string>> items;
  if (c.takes_run_dir)
    items.push_back({"RUN_DIR", fmt::format("a run of {} (<out_dir>/{}/<time>-<name>/); its config.toml is the config",
                                            program, program)});
  else
    items.push_back({"-c, --config FILE.toml",
                     "settings over the built-in defaults; several -c are merged in order,\na key in a later file "
                     "replacing an earlier file's"});
  for (const Positional& p : c.positionals) items.push_back({p.name, p.doc});
  if (c.name == "train")
    items.push_back({"--resume RUN_DIR", "continue RUN_DIR from its checkpoint, with its own config.toml"});
  if (c.name == "sweep")
    items.push_back({"key.path=a,b[,...]",
                     "sweep the key over these values: every combination of the swept\nkeys' "
                     "values is one `train`, run one after another (the\nlast key varying "
                     "fastest); commas inside [...] or quotes do not split"});
  for (const IntegerOption& o : c.options)
    items.push_back({fmt::format("--{} N", o.name), fmt::format("{}, an integer in [{}, {}]", o.doc, o.min, o.max)});
  for (const FileOption& o : c.file_options) items.push_back({fmt::format("--{} FILE", o.name), o.doc});
  items.push_back({"key.path=value", fmt::format("{}, in TOML syntax (optim.lr=3e-4);\na bare word is a string "
                                                 "(data.dataset=two_moons); quote one that TOML\nreads as a number: "
                                                 "run.name='\"1e-3\"'",
                                                 c.takes_run_dir ? "change one key of the run's config"
                                                                 : "set one config key, after the files")});
  items.push_back({"--print-config[=markdown]", c.name == "sweep"
                                                    ? "print each point's config, runs nothing (a dry run), exit"
                                                    : "print every key with its value and doc (or the README's "
                                                      "table), exit"});
  items.push_back({"-h, --help", "print this help and exit"});
  return fmt::format(
      "usage: {}\n{}\n\n{}\nConfig keys: `{} {} --print-config` lists every key with its value, what it allows and "
      "its doc;\nREADME.md has them as tables, and the exit codes under \"When something goes wrong\".\n",
      synopsis(program, c), c.help, rows(items), program, c.name + (c.takes_run_dir ? " RUN_DIR" : ""));
}

int64_t parse_integer(const IntegerOption& o, const std::string& text) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [stop, error] = std::from_chars(text.data(), end, value);
  if (error == std::errc() && stop == end && value >= o.min && value <= o.max) return value;
  throw UsageError(fmt::format("--{} expects an integer in [{}, {}], got '{}'", o.name, o.min, o.max, text));
}

// A run of another program would fail on the first key of its config that this one lacks; its
// meta.json says whose run it is. Without meta.json, Run::open reports the directory later.
void check_run_is_ours(const CommandLine& cli, const std::filesystem::path& dir) {
  std::filesystem::path meta_path = dir / "meta.json";
  std::error_code error;
  if (!std::filesystem::is_regular_file(meta_path, error)) return;
  nlohmann::json meta = parse_json(read_file(meta_path), meta_path.string());
  if (!meta.is_object() || !meta.contains("experiment") || !meta["experiment"].is_string()) return;
  const std::string experiment = meta["experiment"];
  const bool plain =
      !experiment.empty() && experiment.size() <= 32 && std::all_of(experiment.begin(), experiment.end(), [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
      });
  if (!plain || experiment == cli.program) return;
  throw UsageError(fmt::format("{} is a run of {}, not of {}; use {} {}", dir.string(), experiment, cli.program,
                               experiment, cli.resume_dir.empty() ? cli.command : "train --resume"));
}

}  // namespace

std::optional<int64_t> CommandLine::integer_option(const std::string& name) const {
  auto it = options.find(name);
  if (it == options.end()) return std::nullopt;
  return it->second;
}

std::string usage_text(const std::string& program, const std::vector<CommandSpec>& commands) {
  std::string out = fmt::format("usage: {} <command> ...\n", program);
  for (const CommandSpec& c : commands) out += fmt::format("  {}\n      {}\n", synopsis(program, c), c.help);
  return out + fmt::format(
                   "`{} <command> --help` describes a command's options; `{} --version` prints the versions\nof "
                   "genbox, torch and CUDA.\n",
                   program, program);
}

std::string help_text(const CommandLine& cli, const std::vector<CommandSpec>& commands) {
  for (const CommandSpec& c : commands)
    if (c.name == cli.command) return command_help(cli.program, c);
  return usage_text(cli.program, commands);
}

CommandLine parse_command_line(int argc, char** argv, const std::string& program,
                               const std::vector<CommandSpec>& commands) {
  CommandLine cli;
  cli.program = program;
  cli.executable = argc > 0 ? argv[0] : program;
  for (int i = 0; i < argc; ++i) cli.text += (i ? " " : "") + std::string(argv[i]);
  const std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
  auto usage = [&](const std::string& why) { return UsageError(why + "\n" + usage_text(program, commands)); };
  auto given = [&](size_t from, std::initializer_list<const char*> flags) {
    return std::any_of(args.begin() + std::min(from, args.size()), args.end(),
                       [&](const std::string& a) { return std::find(flags.begin(), flags.end(), a) != flags.end(); });
  };
  // Asking for help or the version is answered whatever else the line holds.
  if (given(0, {"--version"})) {
    cli.version = true;
    return cli;
  }
  if (args.empty()) throw usage("missing command");
  if (args[0] == "-h" || args[0] == "--help") {
    cli.help = true;
    return cli;
  }
  cli.command = args[0];
  const CommandSpec* spec = nullptr;
  for (const CommandSpec& c : commands)
    if (c.name == cli.command) spec = &c;
  if (!spec) throw usage(fmt::format("unknown command '{}'", cli.command));
  if (given(1, {"-h", "--help"})) {
    cli.help = true;
    return cli;
  }
  auto misuse = [&](const std::string& why) {
    return UsageError(
        fmt::format("{}\nusage: {}\n(`{} {} --help` says more)", why, synopsis(program, *spec), program, spec->name));
  };

  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& arg = args[i];
    auto value = [&](const std::string& flag) -> std::string {
      if (i + 1 >= args.size()) throw misuse(flag + " needs a value");
      return args[++i];
    };
    if (arg == "-c" || arg == "--config") {
      cli.config_files.push_back(value(arg));
    } else if (arg == "--resume" && spec->name == "train") {
      cli.resume_dir = value(arg);
    } else if (arg == "--print-config" || arg == "--print-config=toml") {
      cli.print_config = "toml";
    } else if (arg == "--print-config=markdown") {
      cli.print_config = "markdown";
    } else if (arg.rfind("--", 0) == 0) {
      std::string name = arg.substr(2);
      const size_t eq = name.find('=');
      if (eq != std::string::npos) name.resize(eq);
      auto file = std::find_if(spec->file_options.begin(), spec->file_options.end(),
                               [&](const FileOption& o) { return o.name == name; });
      if (file != spec->file_options.end()) {
        cli.files[name] = eq != std::string::npos ? arg.substr(eq + 3) : value(arg);
        if (cli.files[name].empty()) throw misuse(fmt::format("--{} needs a file name", name));
        continue;
      }
      auto option = std::find_if(spec->options.begin(), spec->options.end(),
                                 [&](const IntegerOption& o) { return o.name == name; });
      if (option == spec->options.end()) throw misuse(fmt::format("unknown option '{}' for '{}'", arg, spec->name));
      cli.options[name] = parse_integer(*option, eq != std::string::npos ? arg.substr(eq + 3) : value(arg));
    } else if (arg.size() > 1 && arg[0] == '-') {
      throw misuse(fmt::format("unknown option '{}' for '{}'", arg, spec->name));
    } else if (arg.find('=') != std::string::npos) {
      cli.overrides.push_back(arg);
    } else if (spec->takes_run_dir && cli.run_dir.empty()) {
      cli.run_dir = arg;
    } else if (cli.arguments.size() < spec->positionals.size()) {
      cli.arguments.push_back(arg);
    } else {
      throw misuse(fmt::format("unexpected argument '{}'", arg));
    }
  }
  if (spec->takes_run_dir && cli.run_dir.empty()) throw misuse(fmt::format("'{}' needs a RUN_DIR", spec->name));
  // Printing the config reads no inputs and writes nothing, so it needs neither.
  if (cli.print_config.empty() && cli.arguments.size() < spec->positionals.size())
    throw misuse(fmt::format("'{}' needs {}", spec->name, spec->positionals[cli.arguments.size()].name));
  for (const FileOption& o : spec->file_options)
    if (cli.print_config.empty() && !cli.files.count(o.name))
      throw misuse(fmt::format("'{}' needs --{} FILE", spec->name, o.name));
  if (spec->takes_run_dir && !cli.config_files.empty())
    throw misuse(
        fmt::format("'{}' takes the run's own config.toml, not -c; give changes as key=value overrides", spec->name));
  if (!cli.resume_dir.empty() && !cli.config_files.empty())
    throw misuse("--resume takes the run's own config.toml; give changes as key=value overrides");
  return cli;
}

void resolve_config(Schema& schema, const CommandLine& cli) {
  const std::filesystem::path existing_run = !cli.run_dir.empty() ? cli.run_dir : cli.resume_dir;
  if (!existing_run.empty()) {
    std::filesystem::path path = existing_run / "config.toml";
    if (!std::filesystem::exists(path))
      throw UsageError(fmt::format("{} is not a run directory: {} is missing", existing_run.string(), path.string()));
    check_run_is_ours(cli, existing_run);
    schema.load_file(path.string());
  }
  // Each file sets the keys it names: a key in a later file replaces an earlier file's value, as
  // overrides replace both.
  for (const std::string& file : cli.config_files) {
    if (std::filesystem::is_directory(file))
      throw UsageError(fmt::format("-c {}: is a directory, not a TOML file", file));
    schema.load_file(file);
  }
  for (const std::string& o : cli.overrides) schema.apply_override(o);
  schema.validate();
}

}  // namespace genbox
