#include "report/diff.hpp"

#include "base/config.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <set>
#include <sstream>
#include <stdexcept>

namespace genbox::report {
namespace {

std::string toml_text(const toml::node& node) {
  if (const auto* s = node.as_string()) return toml_quote(s->get());
  if (const auto* i = node.as_integer()) return fmt::format("{}", i->get());
  if (const auto* f = node.as_floating_point()) return toml_float(f->get());
  if (const auto* b = node.as_boolean()) return b->get() ? "true" : "false";
  if (const auto* array = node.as_array()) {
    std::string out = "[";
    for (std::size_t i = 0; i < array->size(); ++i) out += (i ? ", " : "") + toml_text(*array->get(i));
    return out + "]";
  }
  if (const auto* table = node.as_table()) {
    std::string out = "{";
    bool first = true;
    for (const auto& [key, value] : *table) {
      out += fmt::format("{}{} = {}", first ? "" : ", ", key.str(), toml_text(value));
      first = false;
    }
    return out + "}";
  }
  // Dates and times: toml++ prints them as TOML.
  std::ostringstream text;
  node.visit([&](const auto& leaf) { text << leaf; });
  return text.str();
}

void flatten_into(const toml::table& table, const std::string& prefix, FlatConfig& flat) {
  for (const auto& [key, value] : table) {
    std::string path = prefix.empty() ? std::string(key.str()) : prefix + "." + std::string(key.str());
    if (const auto* child = value.as_table())
      flatten_into(*child, path, flat);
    else if (const auto* s = value.as_string())
      flat[path] = s->get();
    else
      flat[path] = toml_text(value);
  }
}

}  // namespace

FlatConfig flatten_toml(std::string_view toml_text, std::string_view source) {
  toml::table document;
  try {
    document = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    throw std::runtime_error(
        fmt::format("{}:{}:{}: {}", source, e.source().begin.line, e.source().begin.column, e.description()));
  }
  FlatConfig flat;
  flatten_into(document, "", flat);
  return flat;
}

std::vector<std::string> differing_keys(const std::vector<const FlatConfig*>& configs) {
  std::set<std::string> all_keys;
  for (const FlatConfig* config : configs)
    for (const auto& entry : *config) all_keys.insert(entry.first);

  std::vector<std::string> differing;
  for (const std::string& key : all_keys) {
    const std::string* first_value = nullptr;
    bool same = true;
    for (const FlatConfig* config : configs) {
      auto found = config->find(key);
      if (found == config->end()) {
        same = false;
        break;
      }
      if (!first_value)
        first_value = &found->second;
      else if (*first_value != found->second)
        same = false;
    }
    if (!same) differing.push_back(key);
  }
  return differing;
}

}  // namespace genbox::report
