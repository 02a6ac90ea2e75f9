#include "train/recipe.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "core/json_file.h"

namespace sola {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

/// The text of a top-level string key ("" when absent); ConfigError naming the file for another type.
std::string string_key(const json& j, const char* key, const std::string& file) {
  if (!j.contains(key)) return "";
  if (!j[key].is_string())
    throw ConfigError(file + ": key '" + key + "' must be a string, got " + j[key].dump() + " (" + j[key].type_name() + ")");
  return j[key].get<std::string>();
}

}  // namespace

Recipe read_recipe(const std::string& file) {
  Recipe recipe;
  recipe.file = file;
  recipe.name = fs::path(file).stem().string();
  std::vector<std::string> seen;  // the chain's files, for a cycle
  std::string current = file;
  bool leaf = true;
  while (!current.empty()) {
    std::error_code ec;
    const std::string canonical = fs::weakly_canonical(current, ec).string();
    if (std::find(seen.begin(), seen.end(), canonical) != seen.end())
      throw ConfigError(current + ": extended twice in the chain of " + file + " (extends makes a cycle)");
    seen.push_back(canonical);
    const json j = read_json_file(current);
    if (!j.is_object()) throw ConfigError(current + ": config must be a JSON object");
    for (const auto& item : j.items()) {
      static const std::vector<std::string> kKnown = {"description", "question", "extends", "variant", "model", "train",
                                                      "loss", "precision", "provenance"};
      if (std::find(kKnown.begin(), kKnown.end(), item.key()) == kKnown.end())
        throw ConfigError(current + ": unknown config section '" + item.key() +
                          "' (known: model, train, and description, question, extends, variant; loss, precision "
                          "and provenance, a run's records, are ignored)");
    }
    const std::string variant = string_key(j, "variant", current);
    if (!variant.empty()) {
      try {
        variant_options(variant);  // an unknown name, said now
      } catch (const ConfigError& e) {
        throw ConfigError(current + ": " + e.what());
      }
      if (recipe.variant.empty()) recipe.variant = variant;  // the nearest file's
    }
    const std::string extends = string_key(j, "extends", current);
    if (leaf) {
      recipe.description = string_key(j, "description", current);
      recipe.question = string_key(j, "question", current);
      recipe.extends = extends.empty() ? "" : fs::path(extends).stem().string();
    }
    json sections = json::object();
    for (const char* section : {"model", "train"})
      if (j.contains(section)) sections[section] = j[section];
    recipe.chain.insert(recipe.chain.begin(), {current, sections});
    current = extends.empty() ? "" : (fs::path(current).parent_path() / extends).string();
    leaf = false;
  }
  // The keys are checked now, on defaults, so that a bad file is named before anything else runs.
  ModelOptions model;
  TrainOptions train;
  recipe.apply(model, train);
  return recipe;
}

void Recipe::apply(ModelOptions& model, TrainOptions& train) const {
  if (!variant.empty()) model = variant_options(variant);
  for (const auto& [source, sections] : chain) {
    if (sections.contains("model")) model = options_from_json(sections["model"], model, source);
    if (sections.contains("train")) options_update(train, sections["train"], source, "train");
  }
}

json Recipe::to_json() const {
  json j{{"name", name}, {"file", file}, {"description", description}};
  if (!question.empty()) j["question"] = question;
  if (!extends.empty()) j["extends"] = extends;
  if (!variant.empty()) j["variant"] = variant;
  json model = json::object(), train = json::object();
  for (const auto& [source, sections] : chain) {
    if (sections.contains("model")) model.update(sections["model"]);
    if (sections.contains("train")) train.update(sections["train"]);
  }
  j["model"] = model;
  j["train"] = train;
  return j;
}

std::vector<Recipe> list_recipes(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw IoError(dir, "not a folder of config files");
  std::vector<std::pair<std::string, std::string>> files;  // name, path
  for (const auto& entry : fs::recursive_directory_iterator(dir, ec)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".json") continue;
    const fs::path relative = fs::relative(entry.path(), dir).replace_extension();
    files.emplace_back(relative.generic_string(), entry.path().string());
  }
  std::sort(files.begin(), files.end());
  std::vector<Recipe> recipes;
  for (const auto& [name, path] : files) {
    recipes.push_back(read_recipe(path));
    recipes.back().name = name;
  }
  return recipes;
}

}  // namespace sola
