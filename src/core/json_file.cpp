#include "core/json_file.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace sola {

nlohmann::json read_json_file(const std::string& path) {
  namespace fs = std::filesystem;
  if (!fs::exists(path)) throw IoError(path, "file not found");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path, "cannot open for reading");
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);  // UTF-8 BOM
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for a number like 1e400
    throw ConfigError(path + ": not valid JSON: " + e.what());
  }
}

}  // namespace sola
