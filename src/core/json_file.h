#pragma once
// Reading a JSON file with errors that name it.
#include <string>

#include <nlohmann/json.hpp>

namespace sola {

/// Reads a JSON file (a UTF-8 byte-order mark is skipped). Throws IoError naming the file when it is
/// missing or unreadable, ConfigError naming it when it is not valid JSON.
nlohmann::json read_json_file(const std::string& path);

}  // namespace sola
