// ModelOptions <-> JSON, validation messages, named variants.
#include <gtest/gtest.h>

#include "test_util.h"
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_diff.h"
#include "model/options.h"

namespace sola {
namespace {

using json = nlohmann::json;

TEST(Options, JsonRoundTripCoversEveryKey) {
  ModelOptions o = ModelOptions{}.grid(8).noise("lsrm").backbone("resnet50").lem(false).asrm_eps(1e-4);
  json j = to_json(o);
  EXPECT_EQ(j.size(), model_option_docs().size());
  EXPECT_EQ(to_json(options_from_json(j)), j);
  EXPECT_EQ(j.at("grid"), 8);
  EXPECT_EQ(j.at("noise"), "lsrm");
}

TEST(Options, DefaultsAreThePapers) {
  ModelOptions o;
  EXPECT_EQ(o.arch(), "sola");
  EXPECT_EQ(o.backbone(), "resnet18");
  EXPECT_EQ(o.input_size(), 256);
  EXPECT_EQ(o.grid(), 16);
  EXPECT_EQ(o.noise(), "asrm");
  EXPECT_EQ(o.anomaly_channels(), 64);
  EXPECT_TRUE(o.lem());
  EXPECT_TRUE(o.dcam());
}

TEST(Options, ErrorsNameTheKeyAndValue) {
  auto m = test::error_message<ConfigError>([] { options_from_json(json{{"grid", 12}}, {}, "cfg.json"); });
  EXPECT_NE(m.find("cfg.json"), std::string::npos) << m;
  EXPECT_NE(m.find("'grid' = 12"), std::string::npos) << m;
  m = test::error_message<ConfigError>([] { options_from_json(json{{"gird", 8}}, {}, "cfg.json"); });
  EXPECT_NE(m.find("unknown model config key 'gird'"), std::string::npos) << m;
  m = test::error_message<ConfigError>([] { options_from_json(json{{"grid", "eight"}}); });
  EXPECT_NE(m.find("'grid' must be an integer"), std::string::npos) << m;
  m = test::error_message<ConfigError>([] { options_from_json(json{{"noise", "gaussian"}}); });
  EXPECT_NE(m.find("asrm, lsrm, srm, none"), std::string::npos) << m;
  m = test::error_message<ConfigError>([] { options_from_json(json{{"input_size", 250}}); });
  EXPECT_NE(m.find("multiple of 16"), std::string::npos) << m;
  m = test::error_message<ConfigError>([] { options_from_json(json{{"input_size", 224}}); });  // 56 px does not split into 16 cells
  EXPECT_NE(m.find("LEM grid"), std::string::npos) << m;
  EXPECT_NO_THROW(options_from_json(json{{"input_size", 224}, {"lem", false}}));
  EXPECT_THROW(options_from_json(json::array()), ConfigError);
}

TEST(Options, SetFromText) {
  ModelOptions o;
  set_option(o, "grid", "8");
  set_option(o, "lem", "false");
  set_option(o, "noise", "srm");
  set_option(o, "asrm_eps", "0.001");
  EXPECT_EQ(o.grid(), 8);
  EXPECT_FALSE(o.lem());
  EXPECT_EQ(o.noise(), "srm");
  EXPECT_DOUBLE_EQ(o.asrm_eps(), 0.001);
  EXPECT_THROW(set_option(o, "grid", "x"), ConfigError);
  EXPECT_THROW(set_option(o, "nope", "1"), ConfigError);
  EXPECT_EQ(o.grid(), 8) << "a failed set must leave the options unchanged";
}

TEST(Options, JsonDifferencesNameOnlyTheKeysThatDiffer) {
  const json a = to_json(ModelOptions{}.grid(8));
  const json b = to_json(ModelOptions{}.grid(16).lem(false));
  EXPECT_EQ(json_differences(a, b, "the checkpoint", "this run"),
            "grid: 8 (the checkpoint) vs 16 (this run); lem: true (the checkpoint) vs false (this run)");
  EXPECT_EQ(json_differences(a, a, "x", "y"), "");
  EXPECT_EQ(json_differences(json{{"k", 1}}, json{{"m", 2}}, "a", "b"), "k: 1 (a) vs absent (b); m: absent (a) vs 2 (b)");
}

TEST(Options, VariantsAreValidAndDistinct) {
  std::set<std::string> configs;
  for (const auto& v : model_variants()) {
    EXPECT_NO_THROW(v.options.validate()) << v.name;
    configs.insert(to_json(v.options).dump());
  }
  EXPECT_EQ(configs.size(), model_variants().size());
  EXPECT_EQ(variant_options("resnet18").arch(), "resnet");
  EXPECT_NE(test::error_message<ConfigError>([] { variant_options("vgg"); }).find("sola-r18"), std::string::npos);
}

}  // namespace
}  // namespace sola
