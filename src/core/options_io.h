#pragma once
// Generic JSON reading/writing for options structs whose fields are listed once in an X-macro.
//
// A struct opts in by providing, next to its definition,
//   template <class F> void visit_options(Opts& o, F&& f);   // calls f("key", o.key(), "doc") per field
// (see SOLA_VISIT_OPTION below). Everything here is then shared: to JSON, from JSON with
// unknown-key and type errors that name the source, KEY=VALUE text, and key documentation.
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

#define SOLA_DECLARE_OPTION(type, key, def, doc) TORCH_ARG(type, key) = def;
#define SOLA_VISIT_OPTION(type, key, def, doc) f(#key, o.key(), doc);

namespace sola {

/// One config key: its name, default (as JSON text) and documentation.
struct OptionDoc {
  std::string key, default_value, doc;
};

namespace detail {

/// `v` as JSON text for a message. Bytes that are not UTF-8 (a --set value can hold any) become
/// U+FFFD instead of making dump() throw.
inline std::string json_text(const nlohmann::json& v) {
  return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

template <typename T>
T read_json_value(const nlohmann::json& v, const std::string& key, const std::string& source) {
  bool ok;
  if constexpr (std::is_same_v<T, bool>) ok = v.is_boolean();
  else if constexpr (std::is_integral_v<T>) ok = v.is_number_integer();
  else if constexpr (std::is_floating_point_v<T>) ok = v.is_number();
  else ok = v.is_string();
  if (!ok) {
    const char* want = std::is_same_v<T, bool> ? "true or false"
                       : std::is_integral_v<T> ? "an integer"
                       : std::is_floating_point_v<T> ? "a number"
                                                     : "a string";
    throw ConfigError(source + ": key '" + key + "' must be " + want + ", got " + json_text(v) + " (" + v.type_name() + ")");
  }
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    // get<T>() would wrap an integer outside T's range around (18446744073709551615 -> -1).
    using Limits = std::numeric_limits<T>;
    const bool fits = v.is_number_unsigned()
                          ? v.get<uint64_t>() <= static_cast<uint64_t>(Limits::max())
                          : v.get<int64_t>() >= static_cast<int64_t>(Limits::min()) &&
                                v.get<int64_t>() <= static_cast<int64_t>(Limits::max());
    if (!fits) {
      throw ConfigError(source + ": key '" + key + "' must be an integer from " + std::to_string(Limits::min()) +
                        " to " + std::to_string(Limits::max()) + ", got " + json_text(v));
    }
  }
  return v.get<T>();
}

/// Text from the command line to JSON: strings stay strings, everything else is parsed as JSON
/// (so "8" is 8, "false" is false); unparsable text stays a string for the type check to report.
template <typename T>
nlohmann::json json_from_text(const std::string& text) {
  if constexpr (std::is_same_v<T, std::string>) {
    return nlohmann::json(text);
  } else {
    auto parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    return parsed.is_discarded() ? nlohmann::json(text) : parsed;
  }
}

}  // namespace detail

template <class Opts>
nlohmann::json options_to_json(const Opts& opts) {
  nlohmann::json j = nlohmann::json::object();
  visit_options(const_cast<Opts&>(opts), [&](const char* key, auto& value, const char*) { j[key] = value; });
  return j;
}

template <class Opts>
std::vector<OptionDoc> options_docs() {
  std::vector<OptionDoc> docs;
  Opts defaults;
  visit_options(defaults, [&](const char* key, auto& value, const char* doc) {
    docs.push_back({key, nlohmann::json(value).dump(), doc});
  });
  return docs;
}

template <class Opts>
bool options_has_key(const std::string& key) {
  Opts o;
  bool found = false;
  visit_options(o, [&](const char* k, auto&, const char*) { found |= key == k; });
  return found;
}

/// Applies the keys of `j` (an object) to `opts`. Throws ConfigError naming `source` for a
/// non-object, an unknown key (listing the known ones) or a value of the wrong type.
template <class Opts>
void options_update(Opts& opts, const nlohmann::json& j, const std::string& source, const std::string& section) {
  if (!j.is_object()) throw ConfigError(source + ": '" + section + "' config must be a JSON object, got " + j.type_name());
  for (const auto& item : j.items()) {
    // Named references, not a structured binding: lambdas cannot capture those before C++20 (clang).
    const std::string& key = item.key();
    const nlohmann::json& value = item.value();
    bool known = false;
    visit_options(opts, [&](const char* k, auto& field, const char*) {
      if (key != k) return;
      field = detail::read_json_value<std::decay_t<decltype(field)>>(value, key, source);
      known = true;
    });
    if (!known) {
      std::string keys;
      for (const auto& d : options_docs<Opts>()) keys += (keys.empty() ? "" : ", ") + d.key;
      throw ConfigError(source + ": unknown " + section + " config key '" + key + "' (known keys: " + keys + ")");
    }
  }
}

/// Sets one key from command-line text. Returns false when the struct has no such key.
template <class Opts>
bool options_set_text(Opts& opts, const std::string& key, const std::string& text, const std::string& source) {
  bool known = false;
  visit_options(opts, [&](const char* k, auto& field, const char*) {
    if (key != k) return;
    using T = std::decay_t<decltype(field)>;
    field = detail::read_json_value<T>(detail::json_from_text<T>(text), key, source);
    known = true;
  });
  return known;
}

}  // namespace sola
