#include "core/json_diff.h"

#include <set>

namespace sola {

std::string json_differences(const nlohmann::json& a, const nlohmann::json& b, const std::string& a_name,
                             const std::string& b_name) {
  // Bytes that are not UTF-8 become U+FFFD instead of making dump() throw.
  auto text = [](const nlohmann::json& j, const std::string& key) {
    return j.is_object() && j.contains(key) ? j[key].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                                            : std::string("absent");
  };
  std::set<std::string> keys;
  for (const auto* j : {&a, &b})
    if (j->is_object())
      for (const auto& item : j->items()) keys.insert(item.key());
  std::string out;
  for (const auto& key : keys) {
    const std::string va = text(a, key), vb = text(b, key);
    if (va != vb) out += (out.empty() ? "" : "; ") + key + ": " + va + " (" + a_name + ") vs " + vb + " (" + b_name + ")";
  }
  return out;
}

}  // namespace sola
