#include "base/config.hpp"

#include <fmt/format.h>

#include <toml++/toml.h>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <sstream>
#include <type_traits>

namespace genbox {

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string toml_quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          out += fmt::format("\\u{:04x}", c);
        else
          out += c;
    }
  }
  return out + "\"";
}

std::string toml_float(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  std::string text = fmt::format("{}", value);
  if (text.find_first_of(".eE") == std::string::npos) text += ".0";
  return text;
}

namespace {

template <typename T>
std::string toml_list(const std::vector<T>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if constexpr (std::is_same_v<T, double>)
      out += (i ? ", " : "") + toml_float(values[i]);
    else
      out += (i ? ", " : "") + std::to_string(values[i]);
  }
  return out + "]";
}

std::string position(const toml::source_region& where, const std::string& fallback) {
  if (!where.begin) return fallback;
  std::string file = where.path ? *where.path : fallback;
  return fmt::format("{}:{}:{}", file, where.begin.line, where.begin.column);
}

std::string node_text(const toml::node& node) {
  if (auto s = node.as_string()) return toml_quote(s->get());
  std::ostringstream out;
  node.visit([&](const auto& n) { out << toml::toml_formatter{n}; });
  std::string text = out.str();
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

// The value as its source spells it (1e-3, where toml++ would print 0.001): the text between the
// region's first and one-past-last column, which toml++ counts in code points. Empty when the
// value spans lines or the text is not at hand.
std::string spelling(const toml::source_region& where, std::string_view text) {
  if (text.empty() || !where.begin || where.begin.line != where.end.line || where.end.column <= where.begin.column)
    return "";
  size_t at = 0;
  for (toml::source_index line = 1; line < where.begin.line; ++line) {
    at = text.find('\n', at);
    if (at == std::string_view::npos) return "";
    ++at;
  }
  auto skip_code_points = [&](size_t from, size_t count) {
    for (; count > 0 && from < text.size(); --count) do
        ++from;
      while (from < text.size() && (static_cast<unsigned char>(text[from]) & 0xc0) == 0x80);
    return from;
  };
  size_t begin = skip_code_points(at, where.begin.column - 1);
  size_t end = skip_code_points(begin, where.end.column - where.begin.column);
  return std::string(text.substr(begin, end - begin));
}

// "the number 1e-3": a scalar that TOML read as something other than the string it was meant as.
std::optional<std::string> unquoted_scalar(const toml::node& node, const std::string& spelled) {
  const std::string text = spelled.empty() ? node_text(node) : spelled;
  if (node.is_integer() || node.is_floating_point()) return "the number " + text;
  if (node.is_boolean()) return "the boolean " + text;
  if (node.is_date() || node.is_time() || node.is_date_time()) return "the date " + text;
  return std::nullopt;
}

std::string node_type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    default:
      return "a date or time";
  }
}

}  // namespace

Schema::Field& Schema::register_field(Field field) {
  if (find(field.key)) throw std::logic_error("config key registered twice: " + field.key);
  fields_.push_back(std::move(field));
  Field& added = fields_.back();
  added.default_toml = value_toml(added);
  return added;
}

void Schema::add(const std::string& key, bool& target, const std::string& doc) {
  register_field({key, Kind::boolean, doc, &target, "", 0, 0, {}});
}

void Schema::add(const std::string& key, int64_t& target, int64_t min, int64_t max, const std::string& doc) {
  register_field({key, Kind::integer, doc, &target, "", double(min), double(max), {}});
}

void Schema::add(const std::string& key, double& target, double min, double max, const std::string& doc) {
  register_field({key, Kind::real, doc, &target, "", min, max, {}});
}

void Schema::add(const std::string& key, std::string& target, const std::string& doc) {
  register_field({key, Kind::string, doc, &target, "", 0, 0, {}});
}

void Schema::add_choice(const std::string& key, std::string& target, std::vector<std::string> choices,
                        const std::string& doc) {
  if (std::find(choices.begin(), choices.end(), target) == choices.end())
    throw std::logic_error("default of " + key + " is not among its choices");
  register_field({key, Kind::choice, doc, &target, "", 0, 0, std::move(choices)});
}

void Schema::add(const std::string& key, std::vector<int64_t>& target, int64_t min, int64_t max,
                 const std::string& doc) {
  register_field({key, Kind::integer_list, doc, &target, "", double(min), double(max), {}});
}

void Schema::add(const std::string& key, std::vector<double>& target, double min, double max, const std::string& doc) {
  register_field({key, Kind::real_list, doc, &target, "", min, max, {}});
}

const Schema::Field* Schema::find(const std::string& key) const {
  for (const Field& f : fields_)
    if (f.key == key) return &f;
  return nullptr;
}

std::vector<std::string> Schema::keys() const {
  std::vector<std::string> out;
  for (const Field& f : fields_) out.push_back(f.key);
  return out;
}

const std::string& Schema::string_value(const std::string& key) const {
  const Field* f = find(key);
  if (!f || (f->kind != Kind::string && f->kind != Kind::choice))
    throw ConfigError(fmt::format("{} is not a string key of this config", key));
  return *static_cast<const std::string*>(f->target);
}

std::string Schema::nearest_key(const std::string& key) const {
  std::string best;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (const Field& f : fields_) {
    size_t d = edit_distance(key, f.key);
    if (d < best_distance) best_distance = d, best = f.key;
  }
  return best;
}

std::string Schema::value_toml(const Field& f) const {
  switch (f.kind) {
    case Kind::boolean:
      return *static_cast<bool*>(f.target) ? "true" : "false";
    case Kind::integer:
      return std::to_string(*static_cast<int64_t*>(f.target));
    case Kind::real:
      return toml_float(*static_cast<double*>(f.target));
    case Kind::string:
    case Kind::choice:
      return toml_quote(*static_cast<std::string*>(f.target));
    case Kind::integer_list:
      return toml_list(*static_cast<std::vector<int64_t>*>(f.target));
    case Kind::real_list:
      return toml_list(*static_cast<std::vector<double>*>(f.target));
  }
  return "";
}

std::string Schema::describe_type(const Field& f) {
  auto range = [&](const char* what) {
    bool open_low = f.min <= double(std::numeric_limits<int64_t>::min()) || f.min == -HUGE_VAL;
    bool open_high = f.max >= double(std::numeric_limits<int64_t>::max()) || f.max == HUGE_VAL;
    if (open_low && open_high) return std::string(what);
    if (open_high) return fmt::format("{} >= {}", what, f.min);
    if (open_low) return fmt::format("{} <= {}", what, f.max);
    return fmt::format("{} in [{}, {}]", what, f.min, f.max);
  };
  switch (f.kind) {
    case Kind::boolean:
      return "a boolean";
    case Kind::integer:
      return range("an integer");
    case Kind::real:
      return range("a float");
    case Kind::string:
      return "a string";
    case Kind::choice: {
      std::string out = "one of ";
      for (size_t i = 0; i < f.choices.size(); ++i) out += (i ? ", " : "") + toml_quote(f.choices[i]);
      return out;
    }
    case Kind::integer_list:
      return range("an array of integers each");
    case Kind::real_list:
      return range("an array of floats each");
  }
  return "";
}

struct Schema::Loader {
  // `text` is the source the table was parsed from, for the spelling of values in messages.
  static void load_table(const Schema& schema, const toml::table& table, const std::string& prefix,
                         const std::string& source_name, std::string_view text) {
    for (const auto& [name, node] : table) {
      std::string key = prefix.empty() ? std::string(name.str()) : prefix + "." + std::string(name.str());
      const Field* field = schema.find(key);
      if (!field && node.is_table()) {
        load_table(schema, *node.as_table(), key, source_name, text);
        continue;
      }
      if (!field)
        throw ConfigError(fmt::format("{}: unknown key '{}'; did you mean '{}'?", position(name.source(), source_name),
                                      key, schema.nearest_key(key)));
      std::string spelled = spelling(node.source(), text);
      set(*field, node, position(node.source(), source_name), spelled, toml_quote(spelled));
    }
  }

  // `spelled` is the value as written, `quoted` how to write it as a string where it was written.
  static void set(const Field& f, const toml::node& node, const std::string& where, const std::string& spelled,
                  const std::string& quoted) {
    const std::string expected = describe_type(f);
    auto fail_type = [&]() {
      auto scalar = unquoted_scalar(node, spelled);
      if (scalar && (f.kind == Kind::string || f.kind == Kind::choice) && !spelled.empty())
        throw ConfigError(
            fmt::format("{}: '{}' expects {}, got {}; quote it: {}", where, f.key, expected, *scalar, quoted));
      throw ConfigError(fmt::format("{}: '{}' expects {}, got {} ({})", where, f.key, expected, node_type_name(node),
                                    node_text(node)));
    };
    auto fail_range = [&](const std::string& value) {
      throw ConfigError(fmt::format("{}: '{}' = {} is out of range; expected {}", where, f.key, value, expected));
    };
    switch (f.kind) {
      case Kind::boolean: {
        auto v = node.value_exact<bool>();
        if (!v) fail_type();
        *static_cast<bool*>(f.target) = *v;
        return;
      }
      case Kind::integer: {
        auto v = node.value_exact<int64_t>();
        if (!v) fail_type();
        if (double(*v) < f.min || double(*v) > f.max) fail_range(std::to_string(*v));
        *static_cast<int64_t*>(f.target) = *v;
        return;
      }
      case Kind::real: {  // an integer is accepted: `lr = 1` means 1.0 to anyone reading it
        std::optional<double> v;
        if (auto d = node.value_exact<double>())
          v = *d;
        else if (auto i = node.value_exact<int64_t>())
          v = double(*i);
        if (!v) fail_type();
        if (!(*v >= f.min && *v <= f.max)) fail_range(toml_float(*v));
        *static_cast<double*>(f.target) = *v;
        return;
      }
      case Kind::string: {
        auto v = node.value_exact<std::string>();
        if (!v) fail_type();
        *static_cast<std::string*>(f.target) = *v;
        return;
      }
      case Kind::choice: {
        auto v = node.value_exact<std::string>();
        if (!v) fail_type();
        if (std::find(f.choices.begin(), f.choices.end(), *v) == f.choices.end()) {
          std::string nearest = *std::min_element(
              f.choices.begin(), f.choices.end(),
              [&](const std::string& a, const std::string& b) { return edit_distance(*v, a) < edit_distance(*v, b); });
          throw ConfigError(fmt::format("{}: '{}' = {} is not {}; did you mean {}?", where, f.key, toml_quote(*v),
                                        expected, toml_quote(nearest)));
        }
        *static_cast<std::string*>(f.target) = *v;
        return;
      }
      case Kind::integer_list: {
        // A lone integer is a list of one: `image_size = 64` reads as [64].
        if (auto v = node.value_exact<int64_t>()) {
          if (double(*v) < f.min || double(*v) > f.max) fail_range(std::to_string(*v));
          *static_cast<std::vector<int64_t>*>(f.target) = {*v};
          return;
        }
        auto* array = node.as_array();
        if (!array) fail_type();
        std::vector<int64_t> values;
        for (const toml::node& element : *array) {
          auto v = element.value_exact<int64_t>();
          if (!v) fail_type();
          if (double(*v) < f.min || double(*v) > f.max) fail_range(node_text(node));
          values.push_back(*v);
        }
        *static_cast<std::vector<int64_t>*>(f.target) = std::move(values);
        return;
      }
      case Kind::real_list: {
        auto* array = node.as_array();
        if (!array) fail_type();
        std::vector<double> values;
        for (const toml::node& element : *array) {
          std::optional<double> v;
          if (auto d = element.value_exact<double>())
            v = *d;
          else if (auto i = element.value_exact<int64_t>())
            v = double(*i);
          if (!v) fail_type();
          if (!(*v >= f.min && *v <= f.max)) fail_range(node_text(node));
          values.push_back(*v);
        }
        *static_cast<std::vector<double>*>(f.target) = std::move(values);
        return;
      }
    }
  }
};

void Schema::load_file(const std::string& path) {
  // Read here rather than by toml::parse_file, so that messages can quote the file's spelling.
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(fmt::format("{}: cannot read config file: {}", path, std::strerror(errno)));
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  load_string(text, path);
}

void Schema::load_string(std::string_view toml_text, const std::string& source_name) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    throw ConfigError(fmt::format("{}: {}", position(e.source(), source_name), e.description()));
  }
  Loader::load_table(*this, root, "", source_name, toml_text);
}

void Schema::apply_override(const std::string& assignment) {
  std::string where = fmt::format("override '{}'", assignment);
  size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) throw ConfigError(where + ": expected key.path=value");
  std::string key = assignment.substr(0, eq);
  std::string value = assignment.substr(eq + 1);
  const Field* field = find(key);
  if (!field) throw ConfigError(fmt::format("{}: unknown key '{}'; did you mean '{}'?", where, key, nearest_key(key)));
  if (!valid_utf8(assignment))
    throw ConfigError(fmt::format("override of '{}': the value is not valid UTF-8", valid_utf8(key) ? key : "?"));
  toml::table parsed;
  bool is_toml = true;
  try {
    parsed = toml::parse("value = " + value);
  } catch (const toml::parse_error&) {
    is_toml = false;
  }
  const std::string before = value_toml(*field);
  if (is_toml && parsed.size() == 1 && parsed.contains("value")) {
    // A shell drops one level of quotes: the hint keeps TOML's inside single quotes.
    std::string spelled = spelling(parsed.get("value")->source(), "value = " + value);
    Loader::set(*field, *parsed.get("value"), where, spelled, fmt::format("{}='{}'", key, toml_quote(spelled)));
  } else {
    toml::value<std::string> bare(value);
    Loader::set(*field, bare, where, value, toml_quote(value));
  }
  const std::string after = value_toml(*field);
  if (after != before) changes_.push_back({key, before, after});
}

bool valid_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    size_t extra = 0;
    if (c >= 0x80) {
      // Lead bytes of 2-, 3- and 4-byte forms; 0xc0, 0xc1 (overlong) and 0xf5.. (past U+10FFFF) are never valid.
      if (c >= 0xc2 && c <= 0xdf)
        extra = 1;
      else if (c >= 0xe0 && c <= 0xef)
        extra = 2;
      else if (c >= 0xf0 && c <= 0xf4)
        extra = 3;
      else
        return false;
    }
    if (i + extra >= text.size()) return false;
    for (size_t k = 1; k <= extra; ++k)
      if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) return false;
    i += extra + 1;
  }
  return true;
}

std::string Schema::to_toml(bool with_docs) const {
  // Tables in order of first appearance, each with all its keys, wherever they were registered.
  std::vector<std::string> tables;
  auto table_of = [](const std::string& key) {
    size_t dot = key.rfind('.');
    return dot == std::string::npos ? std::string() : key.substr(0, dot);
  };
  for (const Field& f : fields_)
    if (std::find(tables.begin(), tables.end(), table_of(f.key)) == tables.end()) tables.push_back(table_of(f.key));
  std::string out;
  for (const std::string& table : tables) {
    if (!table.empty()) out += fmt::format("{}[{}]\n", out.empty() ? "" : "\n", table);
    for (const Field& f : fields_) {
      if (table_of(f.key) != table) continue;
      if (with_docs) out += fmt::format("# {} ({})\n", f.doc, describe_type(f));
      out += fmt::format("{} = {}\n", f.key.substr(table.empty() ? 0 : table.size() + 1), value_toml(f));
    }
  }
  return out;
}

std::string Schema::to_markdown() const {
  std::string out = "| key | default | allowed | meaning |\n| --- | --- | --- | --- |\n";
  for (const Field& f : fields_)
    out += fmt::format("| `{}` | `{}` | {} | {} |\n", f.key, f.default_toml, describe_type(f), f.doc);
  return out;
}

void Schema::add_check(std::function<void()> check) { checks_.push_back(std::move(check)); }

void Schema::validate() const {
  for (const auto& check : checks_) check();
}

}  // namespace genbox
