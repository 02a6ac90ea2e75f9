// sola forward: one forward pass per image file; logit, score and anomaly-map summary (JSON lines).
#include <chrono>
#include <iostream>

#include <torch/torch.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/runtime.h"
#include "data/image.h"
#include "model/checkpoint.h"
#include "model/sola_head.h"

namespace sola::cli {
namespace {

struct ForwardOptions {
  std::vector<std::string> images;
  ModelConfigArgs config;
  std::string model_file;
  int threads = 0;
};

int run_forward(const ForwardOptions& opts) {
  configure_threads(opts.threads);
  Detector model;
  if (!opts.model_file.empty()) {
    model = load_model(opts.model_file).model;
  } else {
    model = build_model(resolve_model_options(opts.config));
    std::cerr << "sola forward: no --model given: weights are untrained (random), scores are meaningless\n";
  }
  model->eval();
  torch::NoGradGuard no_grad;
  int failures = 0;
  for (const auto& path : opts.images) {
    nlohmann::json line{{"path", path}};
    try {
      auto image = load_image(path, model->options().input_size()).unsqueeze(0);
      const auto t0 = std::chrono::steady_clock::now();
      auto out = model->forward(image);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      line["status"] = "ok";
      line["logit"] = out.logit.item<double>();
      line["score"] = torch::sigmoid(out.logit).item<double>();
      line["forward_ms"] = ms;
      if (out.has_maps()) {
        for (int k = 0; k < 4; ++k) {
          auto m = out.second_order[0][k];
          line["second_order"][kNeighbourNames[k]] = {{"mean", m.mean().item<double>()},
                                                      {"max", m.max().item<double>()}};
        }
        line["map_size"] = out.second_order.size(-1);
      }
    } catch (const IoError& e) {
      line["status"] = "error";
      line["error"] = e.what();
      ++failures;
    }
    std::cout << json_line(line) << std::endl;
  }
  return failures ? kFailure : kOk;
}

}  // namespace

void setup_forward(CLI::App& app) {
  auto opts = std::make_shared<ForwardOptions>();
  auto* sub = app.add_subcommand("forward", "Run the model on image files and print logit, score and map summary (JSON lines)");
  sub->add_option("images", opts->images, "image files (face crops)")->required();
  sub->add_option("--model", opts->model_file, "saved model file (default: an untrained model from the config)");
  add_model_config_options(sub, opts->config);
  add_threads_option(sub, opts->threads);
  sub->callback([opts] {
    if (int code = run_forward(*opts); code != kOk) throw CLI::RuntimeError(code);
  });
}

}  // namespace sola::cli
