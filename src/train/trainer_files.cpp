// The parts of the Trainer that read manifest files and draw curves.png: OpenCV (sola_pipeline).
// The trainer itself (trainer.cpp) needs neither and builds without OpenCV.
#include <fstream>

#include <fmt/format.h>
#include <opencv2/core.hpp>

#include "core/error.h"
#include "data/dataset.h"
#include "eval/plot.h"
#include "train/trainer.h"

namespace sola {
namespace {
using json = nlohmann::json;

/// curves.png: training loss terms (left) and validation metrics (right) per epoch, from the log.
void draw_curves(const std::string& log_path, const std::string& png_path) {
  std::ifstream in(log_path);
  std::string line;
  auto series = [](const char* name) { return eval::Series{name, {}, {}}; };
  eval::Series loss = series("train loss"), cls = series("classifier BCE"), first = series("first-order term"),
               second = series("second-order term"), auc = series("val frame AUC"), ap = series("val AP"),
               eer = series("val EER");
  while (std::getline(in, line)) {
    auto j = json::parse(line, nullptr, false);
    if (j.is_discarded() || j.value("type", "") != "epoch") continue;
    const double e = j.at("epoch").get<double>();
    for (auto [series, key] : {std::pair{&loss, "train_loss"}, {&cls, "train_cls"}, {&first, "train_first"}, {&second, "train_second"}}) {
      series->x.push_back(e);
      series->y.push_back(j.value(key, 0.0));
    }
    if (j.contains("val")) {
      for (auto [series, key] : {std::pair{&auc, "auc"}, {&ap, "ap"}, {&eer, "eer"}}) {
        series->x.push_back(e);
        series->y.push_back(j["val"]["frame"].value(key, 0.0));
      }
    }
  }
  eval::PlotOptions lo;
  lo.title = "training loss";
  lo.x_label = "epoch";
  lo.y_label = "loss";
  lo.width = 640;
  lo.height = 480;
  eval::PlotOptions vo = lo;
  vo.title = "validation";
  vo.y_label = "metric";
  vo.y_unit_range = true;
  cv::Mat left = eval::plot_lines({loss, cls, first, second}, lo), right = eval::plot_lines({auc, ap, eer}, vo), both;
  cv::hconcat(left, right, both);
  eval::write_png(png_path, both);
}

data::DatasetOptions eval_options(const ModelOptions& model) {
  return data::DatasetOptions().input_size(model.input_size()).grid(model.grid());
}

std::shared_ptr<const data::SampleSource> training_source(data::Manifest manifest, const ModelOptions& model,
                                                          const TrainOptions& train) {
  auto dataset = std::make_shared<data::FaceDataset>(std::move(manifest),
                                             eval_options(model)
                                                 .augment(train.augment())
                                                 .augment_options(augment_options(train))
                                                 .seed(static_cast<uint64_t>(train.seed()))
                                                 .pseudo_fakes(train.pseudo_fakes())
                                                 .pseudo_fake_share(train.pseudo_fake_share())
                                                 .blend_real_only_sources(train.blend_real_only_sources())
                                                 .source_weights(parse_source_weights(train.source_weights())));
  // What each source supplies: said at the start of every run that mixes sources or blends reals.
  const auto shares = dataset->source_shares();
  size_t pseudo = 0;
  for (const auto& s : shares) pseudo += s.pseudo_fakes;
  if (shares.size() > 1 || pseudo > 0)
    for (const auto& s : shares)
      fmt::print(stderr, "source {}: {} real, {} fake{}; {:.1f}% of each epoch ({:.2f} passes over it)\n",
                 s.source.empty() ? "(in memory)" : s.source, s.reals, s.fakes,
                 s.pseudo_fakes ? fmt::format(", {} self-blended pseudo-fakes of its reals", s.pseudo_fakes) : "",
                 100 * s.weight, s.passes);
  return dataset;
}

std::shared_ptr<const data::SampleSource> eval_source(data::Manifest manifest, const ModelOptions& model) {
  if (manifest.samples.empty()) return nullptr;
  return std::make_shared<data::FaceDataset>(std::move(manifest), eval_options(model));
}

}  // namespace

Trainer::Trainer(ModelOptions model_options, TrainOptions train_options, data::Manifest train, data::Manifest val,
                 std::string out_dir, json provenance)
    : Trainer(model_options, train_options, training_source(std::move(train), model_options, train_options),
              eval_source(std::move(val), model_options), std::move(out_dir), std::move(provenance)) {
  plot_curves = draw_curves;
}

void Trainer::add_validation(std::string name, data::Manifest manifest) {
  if (manifest.samples.empty()) throw ConfigError("validation set '" + name + "' has no samples");
  add_validation(std::move(name), eval_source(std::move(manifest), model_options_));
}

}  // namespace sola
