#pragma once
// Reading numbers from text that must be a number as a whole (an option value, a query parameter).
#include <exception>
#include <optional>
#include <string>

namespace sola {

/// `text` as a double when the whole of it is one number in std::stod's syntax; nullopt for empty
/// text, trailing characters, or a value beyond double's range.
inline std::optional<double> parse_double(const std::string& text) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (used == 0 || used != text.size()) return std::nullopt;
  return value;
}

}  // namespace sola
