// Recipes as config files (train/recipe.h): extends, variant, description; every file of configs/
// loads through --config and makes a trainer.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "core/error.h"
#include "test_util.h"
#include "train/recipe.h"
#include "train/trainer.h"

namespace sola {
namespace {
using json = nlohmann::json;

cli::RunConfig resolve(const std::string& file, const std::string& variant = "", std::vector<std::string> sets = {}) {
  cli::ModelConfigArgs args;
  args.config_file = file;
  args.variant = variant;
  args.sets = std::move(sets);
  return cli::resolve_config(args);
}

struct RecipeFiles : ::testing::Test {
  test::TempDir tmp;
  std::string write(const std::string& name, const json& j) {
    std::filesystem::create_directories(std::filesystem::path(tmp.file(name)).parent_path());
    std::ofstream(tmp.file(name)) << j.dump(2);
    return tmp.file(name);
  }
};

TEST_F(RecipeFiles, AFileExtendsAnotherItsKeysOverTheOthersThenSet) {
  write("base.json", {{"description", "the base"},
                      {"variant", "resnet18"},
                      {"model", {{"input_size", 128}, {"grid", 8}}},
                      {"train", {{"epochs", 3}, {"lr", 0.01}, {"loss", "classifier"}}}});
  const std::string child = write("group/child.json", {{"description", "the base with seed 1"},
                                                       {"question", "how far seeds land apart"},
                                                       {"extends", "../base.json"},
                                                       {"train", {{"seed", 1}, {"lr", 0.002}}}});
  const cli::RunConfig cfg = resolve(child, "", {"epochs=4"});
  EXPECT_EQ(cfg.model.arch(), "resnet");  // the variant of the file it extends
  EXPECT_EQ(cfg.model.input_size(), 128);
  EXPECT_EQ(cfg.train.seed(), 1);
  EXPECT_DOUBLE_EQ(cfg.train.lr(), 0.002);  // the child's key over the base's
  EXPECT_EQ(cfg.train.loss(), "classifier");
  EXPECT_EQ(cfg.train.epochs(), 4);  // --set last
  const Recipe r = read_recipe(child);
  EXPECT_EQ(r.description, "the base with seed 1");  // not inherited
  EXPECT_EQ(r.question, "how far seeds land apart");
  EXPECT_EQ(r.extends, "base");
  EXPECT_EQ(r.variant, "resnet18");
  const json j = r.to_json();
  EXPECT_EQ(j["train"], json({{"epochs", 3}, {"lr", 0.002}, {"loss", "classifier"}, {"seed", 1}}));
  EXPECT_EQ(j["model"], json({{"input_size", 128}, {"grid", 8}}));
}

TEST_F(RecipeFiles, ErrorsNameTheFileThatHoldsTheProblem) {
  const std::string base = write("base.json", {{"model", {{"gird", 8}}}});
  const std::string child = write("child.json", {{"extends", "base.json"}});
  std::string message = test::error_message<ConfigError>([&] { read_recipe(child); });
  EXPECT_NE(message.find(base), std::string::npos) << message;
  EXPECT_NE(message.find("'gird'"), std::string::npos) << message;
  write("a.json", {{"extends", "b.json"}});
  write("b.json", {{"extends", "a.json"}});
  message = test::error_message<ConfigError>([&] { read_recipe(tmp.file("a.json")); });
  EXPECT_NE(message.find("cycle"), std::string::npos) << message;
  message = test::error_message<IoError>([&] { read_recipe(write("c.json", {{"extends", "missing.json"}})); });
  EXPECT_NE(message.find("missing.json: file not found"), std::string::npos) << message;
  message = test::error_message<ConfigError>([&] { read_recipe(write("d.json", {{"description", 3}})); });
  EXPECT_NE(message.find("d.json: key 'description' must be a string"), std::string::npos) << message;
  message = test::error_message<ConfigError>([&] { read_recipe(write("e.json", {{"variant", "resnet7"}})); });
  EXPECT_NE(message.find("unknown model variant 'resnet7'"), std::string::npos) << message;
  const std::string with_variant = write("f.json", {{"variant", "resnet18"}});
  message = test::error_message<ConfigError>([&] { resolve(with_variant, "sola-r50"); });
  EXPECT_NE(message.find("the config starts from the variant 'resnet18' and --variant gives 'sola-r50'"), std::string::npos)
      << message;
}

/// Samples without pixels: what a Trainer checks at construction (classes, masks, geometry) and no more.
struct NoPixels : data::SampleSource {
  data::Manifest m;
  int64_t size_, grid_;
  NoPixels(int64_t size, int64_t grid) : size_(size), grid_(grid) {
    m.samples = {{"real.png", "", "g", "real", 0}, {"fake.png", "fake_mask.png", "g", "Deepfakes", 1}};
  }
  size_t size() const override { return m.samples.size(); }
  const data::Manifest& manifest() const override { return m; }
  int64_t input_size() const override { return size_; }
  int64_t grid() const override { return grid_; }
  data::Example get(size_t, uint64_t) const override { throw Error("no pixels"); }
  std::vector<size_t> training_order(uint64_t) const override { return {0, 1}; }
};

TEST(Recipes, EveryConfigOfTheRepositoryLoadsThroughConfigAndMakesATrainer) {
  const std::string dir = std::string(SOLA_SOURCE_DIR) + "/configs";
  const std::vector<Recipe> recipes = list_recipes(dir);
  ASSERT_GE(recipes.size(), 30u);
  test::TempDir out;
  for (const auto& r : recipes) {
    SCOPED_TRACE(r.file);
    EXPECT_FALSE(r.description.empty()) << "every recipe says what it is (sola info --recipes)";
    EXPECT_EQ(r.file, dir + "/" + r.name + ".json");
    const cli::RunConfig cfg = resolve(r.file);
    // The trainer's own checks: the loss against the model (a resnet recipe needs loss=classifier), the
    // data's geometry, the train options.
    auto source = std::make_shared<NoPixels>(cfg.model.input_size(), cfg.model.grid());
    EXPECT_NO_THROW(Trainer(cfg.model, cfg.train, source, source, out.file("run")).loss_options());
  }
  // The names the scripts and docs use.
  auto named = [&](const std::string& name) {
    return std::any_of(recipes.begin(), recipes.end(), [&](const Recipe& r) { return r.name == name; });
  };
  for (const char* name : {"long_run", "recipe/base", "recipe/resnet18", "dfdc/sola_supervised", "ffpp/sola_weak",
                           "sources/base", "sources/long_run"})
    EXPECT_TRUE(named(name)) << name;
}

}  // namespace
}  // namespace sola
