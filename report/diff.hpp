// Config differences between runs: each config.toml flattened to dotted keys, then the keys whose
// values are not the same everywhere.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace genbox::report {

using FlatConfig = std::map<std::string, std::string>;

// Every leaf of a TOML document under its dotted path ("optim.lr"), its value as TOML text.
// Arrays are leaves, written inline ("[64, 128]", an array of tables as inline tables), so two
// arrays differ exactly when their text does. Top-level strings are kept without quotes, as a
// table shows them. Throws std::runtime_error naming `source` and the position on a parse error.
FlatConfig flatten_toml(std::string_view toml_text, std::string_view source);

// The keys that are missing from some config or hold different values, sorted.
std::vector<std::string> differing_keys(const std::vector<const FlatConfig*>& configs);

}  // namespace genbox::report
