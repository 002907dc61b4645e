// Typed settings described once: each experiment registers its keys (type, default, range,
// doc) with a Schema bound to its config struct, and parsing, validation, --print-config and the
// README key tables all come from that one description.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace genbox {

// Any invalid configuration: the message names the source, line and column where it can.
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Schema {
 public:
  // Each add() takes the target's current value as its default, so the default lives in one
  // place: the code that fills the struct before describing it.
  void add(const std::string& key, bool& target, const std::string& doc);
  void add(const std::string& key, int64_t& target, int64_t min, int64_t max, const std::string& doc);
  void add(const std::string& key, double& target, double min, double max, const std::string& doc);
  void add(const std::string& key, std::string& target, const std::string& doc);
  void add_choice(const std::string& key, std::string& target, std::vector<std::string> choices,
                  const std::string& doc);
  void add(const std::string& key, std::vector<int64_t>& target, int64_t min, int64_t max, const std::string& doc);
  void add(const std::string& key, std::vector<double>& target, double min, double max, const std::string& doc);

  // Settings from a TOML file; every key in it must be known.
  void load_file(const std::string& path);
  void load_string(std::string_view toml_text, const std::string& source_name);
  // One `key.path=value` from the command line; the value uses TOML syntax, and a bare word
  // that is not TOML is taken as a string.
  void apply_override(const std::string& assignment);

  // The resolved settings as TOML; with docs, each key is preceded by its doc comment.
  std::string to_toml(bool with_docs) const;
  // A Markdown table of key, type, default, range and doc.
  std::string to_markdown() const;

  // A rule between keys that per-key ranges cannot say (min <= max, a width the heads divide):
  // `check` throws ConfigError naming the keys. validate() runs every rule once the config is
  // resolved (defaults, file, overrides), before anything is created.
  void add_check(std::function<void()> check);
  void validate() const;

  // The overrides that changed a value, in order: what a resume changes in a run's config.
  struct Change {
    std::string key, before, after;  // values in TOML syntax
  };
  const std::vector<Change>& changes() const { return changes_; }

  std::vector<std::string> keys() const;
  // The current value of a string or choice key (a ConfigError for any other key).
  const std::string& string_value(const std::string& key) const;
  // The registered key closest to `key` by edit distance over the dotted path.
  std::string nearest_key(const std::string& key) const;

 private:
  enum class Kind { boolean, integer, real, string, choice, integer_list, real_list };
  struct Field {
    std::string key;
    Kind kind;
    std::string doc;
    void* target;
    std::string default_toml;
    double min = 0, max = 0;
    std::vector<std::string> choices;
  };
  struct Loader;  // walks parsed TOML; defined beside the parser so toml++ stays out of here
  Field& register_field(Field field);
  const Field* find(const std::string& key) const;
  std::string value_toml(const Field& field) const;
  static std::string describe_type(const Field& field);

  std::vector<Field> fields_;
  std::vector<std::function<void()>> checks_;
  std::vector<Change> changes_;
};

// Whether `text` is well-formed UTF-8.
bool valid_utf8(std::string_view text);

// Levenshtein distance, used to suggest the nearest valid key or choice.
size_t edit_distance(std::string_view a, std::string_view b);

// TOML's spelling of a string literal (quoted, escaped).
std::string toml_quote(std::string_view text);

// The shortest text that reads back as the same double and that TOML reads as a float: it keeps
// a decimal point, so a float setting of 1 reads "1.0", unlike an integer setting of 1.
std::string toml_float(double value);

}  // namespace genbox
