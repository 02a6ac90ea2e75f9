// sola info: the configuration, parameter counts and FLOPs per image, as JSON.
#include <iostream>

#include <torch/torch.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/runtime.h"
#include "model/checkpoint.h"
#include "model/flops.h"
#include "model/sola_net.h"
#include "train/recipe.h"

namespace sola::cli {
namespace {

struct InfoOptions {
  ModelConfigArgs config;
  std::string model_file;
  bool list_keys = false;
  bool list_variants = false;
  bool list_recipes = false;
  std::string configs_dir = "configs";
  int threads = 0;
};

nlohmann::json describe(DetectorImpl& model) {
  const auto& o = model.options();
  nlohmann::json j;
  j["config"] = to_json(o);
  const auto params = count_parameters(model);
  j["parameters"]["total"] = params.total;
  j["parameters"]["trainable"] = params.trainable;
  for (const auto& [name, n] : params.by_component) j["parameters"]["by_component"][name] = n;
  model.eval();
  torch::NoGradGuard no_grad;
  auto input = torch::rand({1, 3, o.input_size(), o.input_size()});
  ModelOutput out;
  const auto count = count_macs([&] { out = model.forward(input); });
  j["compute"]["input"] = {1, 3, o.input_size(), o.input_size()};
  j["compute"]["macs_per_image"] = count.macs;
  j["compute"]["flops_per_image"] = count.flops();
  j["compute"]["gflops_per_image"] = count.flops() / 1e9;
  for (const auto& [op, n] : count.macs_by_op) j["compute"]["macs_by_op"][op] = n;
  j["outputs"]["logit"] = out.logit.sizes().vec();
  if (out.has_maps()) {
    j["outputs"]["first_order"] = out.first_order.sizes().vec();
    j["outputs"]["second_order"] = out.second_order.sizes().vec();
  }
  return j;
}

int run_info(const InfoOptions& opts) {
  if (opts.list_keys) {
    nlohmann::json keys = nlohmann::json::array();
    for (const auto& d : model_option_docs())
      keys.push_back({{"key", d.key}, {"default", nlohmann::json::parse(d.default_value)}, {"doc", d.doc}});
    std::cout << keys.dump(2) << "\n";
    return kOk;
  }
  if (opts.list_variants) {
    nlohmann::json variants = nlohmann::json::array();
    for (const auto& v : model_variants())
      variants.push_back({{"name", v.name}, {"description", v.description}, {"config", to_json(v.options)}});
    std::cout << variants.dump(2) << "\n";
    return kOk;
  }
  if (opts.list_recipes) {
    nlohmann::json recipes = nlohmann::json::array();
    for (const auto& r : list_recipes(opts.configs_dir)) recipes.push_back(r.to_json());
    std::cout << recipes.dump(2) << "\n";
    return kOk;
  }
  const int threads = configure_threads(opts.threads);
  Detector model;
  nlohmann::json j;
  if (!opts.model_file.empty()) {
    auto loaded = load_model(opts.model_file);
    model = loaded.model;
    j = describe(*model);
    j["model_file"] = opts.model_file;
    j["metadata"] = loaded.metadata;
  } else {
    model = build_model(resolve_model_options(opts.config));
    j = describe(*model);
  }
  j["sola_version"] = SOLA_VERSION;
  j["torch_version"] = torch_version();
  j["threads"] = threads;
  std::cout << j.dump(2) << "\n";
  return kOk;
}

}  // namespace

void setup_info(CLI::App& app) {
  auto opts = std::make_shared<InfoOptions>();
  auto* sub = app.add_subcommand("info", "Print the model configuration, parameter counts and FLOPs per image (JSON)");
  add_model_config_options(sub, opts->config);
  sub->add_option("--model", opts->model_file, "describe a saved model file instead of a configuration");
  sub->add_flag("--keys", opts->list_keys, "list every model config key with its default and meaning");
  sub->add_flag("--variants", opts->list_variants, "list the named model variants");
  sub->add_flag("--recipes", opts->list_recipes,
                "list the training recipes: every config file under --configs, with its description and the keys "
                "it sets (train one with sola train --config FILE)");
  sub->add_option("--configs", opts->configs_dir, "the folder of config files --recipes lists")->capture_default_str();
  add_threads_option(sub, opts->threads);
  sub->callback([opts] {
    if (int code = run_info(*opts); code != kOk) throw CLI::RuntimeError(code);
  });
}

}  // namespace sola::cli
