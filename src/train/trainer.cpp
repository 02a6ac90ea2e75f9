#include "train/trainer.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/error.h"
#include "eval/evaluate.h"
#include "eval/plot.h"
#include "model/checkpoint.h"
#include "train/progress.h"

namespace sola {
namespace fs = std::filesystem;
using json = nlohmann::json;

std::string resolve_loss_mode(const std::string& mode, const ModelOptions& model) {
  if (mode == "auto") return model.arch() == "resnet" ? "classifier" : "supervised";
  if (model.arch() == "resnet" && mode != "classifier")
    throw ConfigError("loss '" + mode + "' needs anomaly maps; the resnet baseline trains with loss=classifier");
  return mode;
}

Trainer::Trainer(ModelOptions model_options, TrainOptions train_options, data::Manifest train, data::Manifest val,
                 std::string out_dir, json provenance)
    : model_options_(std::move(model_options)), options_(std::move(train_options)), train_(std::move(train)),
      val_(std::move(val)), out_dir_(std::move(out_dir)), provenance_(std::move(provenance)) {
  model_options_.validate();
  options_.validate();
  resolve_loss_mode(options_.loss(), model_options_);
  if (train_.samples.empty()) throw ConfigError("training manifest has no samples");
  if (train_.n_real() == 0 || train_.n_fake() == 0)
    throw ConfigError(fmt::format("training data needs real and fake images: got {} real, {} fake", train_.n_real(),
                                  train_.n_fake()));
}

LossOptions Trainer::loss_options() const {
  return LossOptions()
      .mode(resolve_loss_mode(options_.loss(), model_options_))
      .alpha(options_.alpha())
      .beta(options_.beta())
      .gamma(options_.gamma());
}

namespace {

data::AugmentOptions augment_options(const TrainOptions& o) {
  data::AugmentOptions a;
  a.hflip = o.aug_hflip();
  a.color_jitter = o.aug_color();
  a.jpeg = o.aug_jpeg();
  a.random_resized_crop = o.aug_crop();
  return a;
}

/// Keeps the log lines a resumed run has already accounted for: steps up to `global_step` and
/// the first `epochs_done` epoch lines (numbered from 1). Lines written after the checkpoint by
/// a run that died are dropped.
void truncate_log(const std::string& path, int64_t global_step, int64_t epochs_done) {
  if (!fs::exists(path)) return;
  std::ifstream in(path);
  std::vector<std::string> keep;
  std::string line;
  while (std::getline(in, line)) {
    auto j = json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;  // a line cut short by the crash
    if ((j.value("type", "") == "step" && j.value("global_step", int64_t{0}) <= global_step) ||
        (j.value("type", "") == "epoch" && j.value("epoch", int64_t{0}) <= epochs_done))
      keep.push_back(line);
  }
  in.close();
  std::ofstream out(path, std::ios::trunc);
  for (const auto& l : keep) out << l << '\n';
}

/// curves.png: training loss terms (left) and validation metrics (right) per epoch, from the log.
void plot_curves(const std::string& log_path, const std::string& png_path) {
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

}  // namespace

TrainSummary Trainer::run(bool resume) {
  std::error_code ec;
  fs::create_directories(out_dir_, ec);
  if (ec) throw IoError(out_dir_, "cannot create output directory: " + ec.message());
  const std::string last_path = (fs::path(out_dir_) / "last.pt").string();
  const std::string best_path = (fs::path(out_dir_) / "best.pt").string();
  const std::string log_path = (fs::path(out_dir_) / "metrics.jsonl").string();

  // Where the run starts: a fresh model, or the state in last.pt.
  int64_t epoch = 0, step_in_epoch = 0, global_step = 0;
  double best = -std::numeric_limits<double>::infinity();
  Detector model;
  if (resume) {
    if (!fs::exists(last_path)) throw IoError(last_path, "cannot resume: no checkpoint in " + out_dir_);
    auto loaded = load_model(last_path);
    if (to_json(loaded.options) != to_json(model_options_))
      throw ConfigError(last_path + ": the checkpoint's model config differs from this run's: " +
                        to_json(loaded.options).dump() + " vs " + to_json(model_options_).dump());
    const json state = loaded.metadata.value("train_state", json::object());
    if (!state.contains("global_step")) throw IoError(last_path, "is a model file, not a training checkpoint");
    model = loaded.model;
    epoch = state.at("epoch").get<int64_t>();
    step_in_epoch = state.at("step_in_epoch").get<int64_t>();
    global_step = state.at("global_step").get<int64_t>();
    best = state.value("best", best);
  } else {
    torch::manual_seed(static_cast<uint64_t>(options_.seed()));
    model = build_model(model_options_);
  }
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(options_.lr())
                                                        .betas({options_.adam_beta1(), options_.adam_beta2()})
                                                        .eps(options_.adam_eps())
                                                        .weight_decay(options_.weight_decay()));
  if (resume) {
    load_optimizer(last_path, optimizer);
    truncate_log(log_path, global_step, epoch);
    fmt::print(stderr, "resuming {} at epoch {} step {} (global step {})\n", last_path, epoch + 1, step_in_epoch,
               global_step);
  } else {
    std::ofstream(log_path, std::ios::trunc);
  }
  const LossOptions loss_opts = loss_options();

  data::FaceDataset train_set(train_, data::DatasetOptions()
                                          .input_size(model_options_.input_size())
                                          .grid(model_options_.grid())
                                          .augment(options_.augment())
                                          .augment_options(augment_options(options_))
                                          .seed(static_cast<uint64_t>(options_.seed())));
  std::optional<data::FaceDataset> val_set;
  if (!val_.samples.empty())
    val_set.emplace(val_, data::DatasetOptions().input_size(model_options_.input_size()).grid(model_options_.grid()));

  const int64_t full_steps = static_cast<int64_t>(train_set.size()) / options_.batch_size();
  const int64_t steps_per_epoch =
      std::max<int64_t>(1, options_.max_steps_per_epoch() > 0 ? std::min(full_steps, options_.max_steps_per_epoch()) : full_steps);
  const int64_t total_steps = steps_per_epoch * options_.epochs();

  TrainSummary summary;
  {
    json cfg{{"model", to_json(model_options_)}, {"train", options_to_json(options_)}};
    cfg["provenance"] = provenance_;
    write_atomically((fs::path(out_dir_) / "config.json").string(),
                     [&](const std::string& tmp) { std::ofstream(tmp) << cfg.dump(2) << '\n'; });
  }

  // A checkpoint records where training continues: (next_epoch, next_step) and the global step.
  auto save_checkpoint = [&](const std::string& path, bool with_optimizer, int64_t next_epoch, int64_t next_step) {
    json meta{{"train_state", {{"epoch", next_epoch}, {"step_in_epoch", next_step}, {"global_step", global_step}, {"best", best}}},
              {"train", options_to_json(options_)},
              {"provenance", provenance_}};
    save_model(path, *model, meta, with_optimizer ? &optimizer : nullptr);
  };
  std::ofstream log(log_path, std::ios::app);
  auto log_line = [&](const json& j) {
    log << j.dump() << '\n';
    log.flush();
  };

  double images_seen = 0, seconds_training = 0;  // wall time of the training loops, data waits included
  for (; epoch < options_.epochs(); ++epoch, step_in_epoch = 0) {
    model->train();
    auto order = data::epoch_order(train_set.size(), static_cast<uint64_t>(options_.seed()), static_cast<uint64_t>(epoch), true);
    order.resize(static_cast<size_t>(steps_per_epoch * options_.batch_size()));
    data::BatchLoader loader(train_set, order, options_.batch_size(), static_cast<uint64_t>(epoch),
                             static_cast<int>(options_.workers()), 4, static_cast<size_t>(step_in_epoch), true);
    ProgressBar bar(fmt::format("epoch {}/{}", epoch + 1, options_.epochs()), static_cast<size_t>(steps_per_epoch));
    double sum_loss = 0, sum_cls = 0, sum_first = 0, sum_second = 0;
    int64_t n_steps = 0;
    const auto epoch_start = std::chrono::steady_clock::now();
    while (auto batch = loader.next()) {
      const auto t0 = std::chrono::steady_clock::now();
      if (options_.lr_schedule() == "cosine") {
        const double lr = 0.5 * options_.lr() * (1 + std::cos(M_PI * global_step / std::max<int64_t>(1, total_steps)));
        for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
      }
      auto out = model->forward(batch->images);
      auto terms = compute_loss(out, batch->labels, batch->patch_scores, batch->has_mask, loss_opts);
      const double loss_value = terms.total.item<double>();
      if (!std::isfinite(loss_value))
        throw Error(fmt::format("training diverged: loss is {} at epoch {} step {} (global step {}); the last good "
                                "checkpoint is {}", loss_value, epoch + 1, step_in_epoch + 1, global_step + 1, last_path));
      optimizer.zero_grad();
      terms.total.backward();
      optimizer.step();
      model->after_optimizer_step();
      ++step_in_epoch;
      ++global_step;
      ++n_steps;
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      images_seen += batch->indices.size();
      const double cls = terms.classifier.item<double>(), first = terms.first.item<double>(),
                   second = terms.second.item<double>();
      sum_loss += loss_value;
      sum_cls += cls;
      sum_first += first;
      sum_second += second;
      const double ips = batch->indices.size() / std::max(dt, 1e-9);
      if (global_step % options_.log_every() == 0)
        log_line({{"type", "step"}, {"epoch", epoch + 1}, {"step", step_in_epoch}, {"global_step", global_step},
                  {"loss", loss_value}, {"cls", cls}, {"first", first}, {"second", second},
                  {"lr", optimizer.param_groups()[0].options().get_lr()},
                  {"images_per_second", ips}});
      bar.update(static_cast<size_t>(step_in_epoch),
                 fmt::format("loss {:.4f} (cls {:.3f} 1st {:.3f} 2nd {:.3f}) {:.1f} img/s", sum_loss / n_steps,
                             sum_cls / n_steps, sum_first / n_steps, sum_second / n_steps, ips));
      if (options_.checkpoint_every() > 0 && global_step % options_.checkpoint_every() == 0 && step_in_epoch < steps_per_epoch)
        save_checkpoint(last_path, true, epoch, step_in_epoch);
      if (on_step) on_step(global_step);
    }
    const double epoch_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    seconds_training += epoch_seconds;
    bar.finish(fmt::format("loss {:.4f}", n_steps ? sum_loss / n_steps : 0.0));
    json epoch_line{{"type", "epoch"}, {"epoch", epoch + 1}, {"global_step", global_step},
                    {"train_loss", n_steps ? sum_loss / n_steps : 0.0}, {"train_cls", n_steps ? sum_cls / n_steps : 0.0},
                    {"train_first", n_steps ? sum_first / n_steps : 0.0}, {"train_second", n_steps ? sum_second / n_steps : 0.0},
                    {"train_seconds", epoch_seconds},
                    {"train_images_per_second", epoch_seconds > 0 ? n_steps * options_.batch_size() / epoch_seconds : 0.0}};
    double criterion = n_steps ? -sum_loss / n_steps : best;
    if (val_set) {
      ProgressBar vbar("  validate", val_set->size());
      auto scored = eval::score_dataset(*model, *val_set, options_.eval_batch_size(), static_cast<int>(options_.workers()),
                                        [&](size_t done, size_t) { vbar.update(done); });
      auto report = eval::summarize(scored);
      vbar.finish(fmt::format("frame AUC {:.4f} video AUC {:.4f} AP {:.4f} EER {:.4f}", report.frame.auc,
                              report.video.auc, report.frame.ap, report.frame.eer));
      epoch_line["val"] = report.to_json();
      criterion = report.frame.auc;
    }
    const bool improved = criterion > best;
    if (improved) best = criterion;
    epoch_line["best"] = improved;
    log_line(epoch_line);
    if (improved) save_checkpoint(best_path, false, epoch + 1, 0);
    save_checkpoint(last_path, true, epoch + 1, 0);
    plot_curves(log_path, (fs::path(out_dir_) / "curves.png").string());
    summary.last_epoch = epoch_line;
  }
  summary.epochs_done = epoch;
  summary.steps = global_step;
  summary.best_val_auc = val_set ? best : -1;
  summary.train_images_per_second = seconds_training > 0 ? images_seen / seconds_training : 0.0;
  return summary;
}

}  // namespace sola
