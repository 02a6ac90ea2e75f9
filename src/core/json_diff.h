#pragma once
// The keys in which two configurations differ, for a message that names them instead of printing both.
#include <string>

#include <nlohmann/json.hpp>

namespace sola {

/// The keys in which two flat JSON objects differ: "grid: 8 (A) vs 16 (B); lem: true (A) vs false (B)",
/// in key order (a key missing on one side reads "absent"); "" when they are equal.
std::string json_differences(const nlohmann::json& a, const nlohmann::json& b, const std::string& a_name,
                             const std::string& b_name);

}  // namespace sola
