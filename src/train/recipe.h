#pragma once
// A recipe: a config file (`sola train --config FILE`, the files of configs/) read with what it extends.
//
//   {
//     "description": "what the recipe is, in words (sola info --recipes, docs/RESULTS.md)",
//     "extends": "base.json",          // optional: a config applied first (a path relative to this file)
//     "variant": "resnet18",           // optional: the model starts from this named variant (sola info --variants)
//     "question": "...",               // optional: what the run answers against the recipe it extends
//     "model": {"input_size": 128},    // model keys (sola info --keys)
//     "train": {"lr": 1e-3}            // train keys (TrainOptions)
//   }
//
// Resolution: the variant (the nearest file's in the chain of extends), then the model and train keys
// of every file from the farthest to this one (a file's keys over those it extends), then --set. A
// run's own config.json reads back as a config too: its records (loss, precision, provenance) are
// ignored.
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/options.h"
#include "train/train_options.h"

namespace sola {

struct Recipe {
  std::string file;         ///< the file as given
  std::string name;         ///< its path in the folder it was listed from, without ".json"; else the file's stem
  std::string description;  ///< "" when the file has none
  std::string question;
  std::string extends;      ///< the name (stem) of the config it extends, "" when none
  std::string variant;      ///< the variant the model starts from, "" for the defaults
  /// The files of the chain, the farthest first, each with its "model" and "train" sections.
  std::vector<std::pair<std::string, nlohmann::json>> chain;

  /// Applies the variant and the chain's keys onto `model` and `train` (errors name the file that holds
  /// the bad key). Does not validate the train options (--set may still change them).
  void apply(ModelOptions& model, TrainOptions& train) const;
  /// {"name", "file", "description", "question", "extends", "variant", "model", "train"}: the model and
  /// train keys the chain sets (a file's keys over those it extends), as written.
  nlohmann::json to_json() const;
};

/// Reads a config file and the files it extends. Throws IoError naming a missing or unreadable file,
/// ConfigError naming the file for invalid JSON, an unknown top-level key, a value of the wrong type,
/// an unknown variant, or a cycle of extends.
Recipe read_recipe(const std::string& file);

/// Every *.json under `dir` (subfolders included), by name ("recipe/base" for DIR/recipe/base.json).
/// Throws IoError when `dir` is not a folder.
std::vector<Recipe> list_recipes(const std::string& dir);

}  // namespace sola
