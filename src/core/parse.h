#pragma once
// Reading numbers from text that must be a number as a whole (an option value, a query parameter).
#include <exception>
#include <optional>
#include <string>

namespace sola {

/// `text` as a double when the whole of it is one decimal number (digits, an optional sign, point
/// and exponent: "1.5", "-2", ".5e-3"); nullopt for empty text, spaces, trailing characters, a value
/// beyond double's range, and the other forms std::stod reads: hexadecimal ("0x1"), "inf", "nan".
inline std::optional<double> parse_double(const std::string& text) {
  bool digit = false;
  for (const char c : text) {
    if (c >= '0' && c <= '9') digit = true;
    else if (c != '+' && c != '-' && c != '.' && c != 'e' && c != 'E') return std::nullopt;
  }
  if (!digit) return std::nullopt;
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
