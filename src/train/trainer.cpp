#include "train/trainer.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/compat.h"
#include "core/error.h"
#include "core/json_diff.h"
#include "eval/evaluate.h"
#include "model/checkpoint.h"
#include "model/pretrained.h"
#include "train/distributed.h"
#include "train/progress.h"

namespace sola {
namespace fs = std::filesystem;
using json = nlohmann::json;

std::string resolve_loss_mode(const std::string& mode, const ModelOptions& model, bool fakes_have_masks) {
  if (mode == "auto") {
    if (model.arch() == "resnet") return "classifier";
    return fakes_have_masks ? "supervised" : "weak";
  }
  if (model.arch() == "resnet" && mode != "classifier")
    throw ConfigError("loss '" + mode + "' needs anomaly maps; the resnet baseline trains with loss=classifier");
  return mode;
}

std::string describe_loss(const std::string& mode, int64_t fakes_with_mask, int64_t fakes_without_mask,
                          bool pseudo_fakes) {
  if (mode == "classifier") return "classifier BCE only (Eq. 11 without map terms)";
  if (mode == "weak")
    return "weak (Eq. 12): classifier BCE on every image; first- and second-order maps of real images pushed to 0 "
           "(single-side L1); fakes' maps unconstrained";
  std::string text = fmt::format(
      "supervised (Eq. 9-11): classifier BCE on every image; map BCE towards zero for real images and towards the "
      "mask's targets for the {} fakes with a mask{}",
      fakes_with_mask, pseudo_fakes ? " and every pseudo-fake (exact masks)" : "");
  if (fakes_without_mask > 0)
    text += fmt::format("; the {} fakes without a mask get the classifier BCE only (no map loss)", fakes_without_mask);
  return text;
}

namespace {

bool uses_pseudo_fakes(const TrainOptions& o) { return o.pseudo_fakes() || o.pseudo_fake_share() > 0; }

/// The precision a checkpoint's run trained in: its "precision" (fp32, bf16), else its train
/// options' (runs before precision=auto: bf16 or fp32); empty when neither says.
std::string recorded_precision(const json& metadata) {
  if (metadata.contains("precision") && metadata["precision"].is_string()) return metadata["precision"];
  if (metadata.contains("train") && metadata["train"].is_object()) {
    const std::string p = metadata["train"].value("precision", "");
    if (p == "bf16" || p == "fp32") return p;
  }
  return "";
}

}  // namespace

PrecisionChoice run_precision(const TrainOptions& options, const DeviceCapabilities& capabilities,
                              const std::string& recorded) {
  PrecisionChoice choice = resolve_precision(options.precision(), capabilities);
  if (options.precision() != "auto" || (recorded != "bf16" && recorded != "fp32")) return choice;
  PrecisionChoice kept = resolve_precision(recorded, capabilities);
  kept.requested = "auto";
  kept.reason = recorded == choice.resolved
                    ? fmt::format("auto: the run started in {} and keeps it", recorded)
                    : fmt::format("auto: the run started in {} and keeps it; a new run here would train in {} ({})",
                                  recorded, choice.resolved, choice.reason);
  return kept;
}

double provenance_crop_scale(const json& provenance) {
  if (!provenance.is_object() || !provenance.contains("framing")) return 0;
  const json& framing = provenance["framing"];
  if (!framing.is_object() || !framing.contains("crop_scale") || !framing["crop_scale"].is_number()) return 0;
  const double scale = framing["crop_scale"].get<double>();
  return std::isfinite(scale) && scale > 0 ? scale : 0;
}

namespace {

/// Throws ConfigError unless `source` gives the model's input size and grid.
void check_geometry(const data::SampleSource& source, const ModelOptions& model, const std::string& what) {
  if (source.input_size() != model.input_size() || source.grid() != model.grid())
    throw ConfigError(fmt::format("{} gives {}x{} images with a {}x{} patch grid; the model takes {}x{} with grid {}", what,
                                  source.input_size(), source.input_size(), source.grid(), source.grid(),
                                  model.input_size(), model.input_size(), model.grid()));
}

}  // namespace

Trainer::Trainer(ModelOptions model_options, TrainOptions train_options, std::shared_ptr<const data::SampleSource> train,
                 std::shared_ptr<const data::SampleSource> val, std::string out_dir, json provenance)
    : model_options_(std::move(model_options)), options_(std::move(train_options)), train_(std::move(train)),
      val_(std::move(val)), out_dir_(std::move(out_dir)), provenance_(std::move(provenance)) {
  model_options_.validate();
  options_.validate();
  if (!train_) throw ConfigError("no training data");
  loss_options();  // checks the mode against the model
  const data::Manifest& m = train_->manifest();
  if (m.samples.empty()) throw ConfigError("training manifest has no samples");
  if (m.n_real() == 0 || (m.n_fake() == 0 && !options_.pseudo_fakes()))
    throw ConfigError(fmt::format("training data needs real and fake images (or pseudo_fakes=true): got {} real, {} fake",
                                  m.n_real(), m.n_fake()));
  check_geometry(*train_, model_options_, "the training data");
  if (val_ && val_->manifest().samples.empty()) val_.reset();
  if (val_) check_geometry(*val_, model_options_, "the validation data");
}

void Trainer::add_validation(std::string name, std::shared_ptr<const data::SampleSource> source) {
  if (!source || source->manifest().samples.empty()) throw ConfigError("validation set '" + name + "' has no samples");
  check_geometry(*source, model_options_, "validation set '" + name + "'");
  extra_val_.emplace_back(std::move(name), std::move(source));
}

ValidationStall validation_stall(const std::vector<json>& epoch_lines) {
  ValidationStall stall;
  int64_t last_improved = 0;
  auto see = [&](const std::string& set, const json& report, int64_t epoch) {
    const json* auc = report.contains("frame") ? &report["frame"] : nullptr;
    if (!auc || !auc->contains("auc") || !(*auc)["auc"].is_number()) return;
    const double value = (*auc)["auc"].get<double>();
    auto it = std::find_if(stall.best.begin(), stall.best.end(), [&](const auto& b) { return b.set == set; });
    if (it == stall.best.end()) {
      stall.best.push_back({set, value, epoch});
    } else if (value > it->auc) {
      it->auc = value;
      it->epoch = epoch;
    } else {
      return;
    }
    last_improved = epoch;
  };
  for (const auto& line : epoch_lines) {
    const int64_t epoch = line.value("epoch", int64_t{0});
    stall.last_epoch = std::max(stall.last_epoch, epoch);
    if (line.contains("val")) see("val", line["val"], epoch);
    if (line.contains("val_extra") && line["val_extra"].is_object())
      for (const auto& [name, report] : line["val_extra"].items()) see(name, report, epoch);
  }
  stall.epochs_since_improvement = stall.best.empty() ? 0 : stall.last_epoch - last_improved;
  return stall;
}

std::string ValidationStall::describe() const {
  std::string text;
  for (const auto& b : best)
    text += fmt::format("{}{} {:.4f} at epoch {}", text.empty() ? "" : ", ", b.set, b.auc, b.epoch);
  return text.empty() ? "no epoch validated" : text;
}

data::AugmentOptions augment_options(const TrainOptions& o) {
  data::AugmentOptions a;
  a.hflip = o.aug_hflip();
  a.color_jitter = o.aug_color();
  a.jpeg = o.aug_jpeg();
  a.random_resized_crop = o.aug_crop();
  a.blur = o.aug_blur();
  a.sharpen = o.aug_sharpen();
  a.downscale = o.aug_downscale();
  a.noise = o.aug_noise();
  return a;
}

LossOptions Trainer::loss_options() const {
  return LossOptions()
      .mode(resolve_loss_mode(options_.loss(), model_options_,
                              train_->manifest().n_with_mask() > 0 || uses_pseudo_fakes(options_)))
      .alpha(options_.alpha())
      .beta(options_.beta())
      .gamma(options_.gamma());
}

namespace {

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

/// The epoch lines of a run's log (none when there is no log yet).
std::vector<json> read_epoch_lines(const std::string& path) {
  std::vector<json> lines;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto j = json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.value("type", "") == "epoch") lines.push_back(std::move(j));
  }
  return lines;
}

/// The checkpoint to resume from: last.pt when it verifies, else the one it replaced.
std::string resume_checkpoint(const std::string& last_path) {
  const std::string prev = previous_checkpoint_path(last_path);
  std::string problem;
  try {
    verify_model_file(last_path);
    return last_path;
  } catch (const IoError& e) {
    problem = e.what();
  }
  if (!fs::exists(prev)) throw IoError(last_path, "cannot resume: " + problem + "; no previous checkpoint " + prev);
  verify_model_file(prev);
  fmt::print(stderr, "warning: {}; resuming from the previous checkpoint {}\n", problem, prev);
  return prev;
}

}  // namespace

TrainSummary Trainer::run(bool resume) {
  // Data parallelism: RANK/WORLD_SIZE/... as torchrun or Slurm set them (one process otherwise).
  ProcessGroup group = ProcessGroup::create(distributed_env_from_environment());
  const int rank = group.rank(), world = group.size();
  const bool is_main = rank == 0;
  ProgressBar::set_enabled(is_main);
  const int64_t n_micro = world * options_.micro_batches();
  if (options_.batch_size() % n_micro != 0)
    throw ConfigError(fmt::format("batch_size {} must divide into {} processes x {} micro_batches", options_.batch_size(),
                                  world, options_.micro_batches()));
  const int64_t rank_batch = options_.batch_size() / world, micro_size = rank_batch / options_.micro_batches();
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
  std::string resume_path;
  std::string started_in;  // the precision a resumed or continued run started in
  if (resume) {
    if (!fs::exists(last_path) && !fs::exists(previous_checkpoint_path(last_path)))
      throw IoError(last_path, "cannot resume: no checkpoint in " + out_dir_);
    resume_path = resume_checkpoint(last_path);
    auto loaded = load_model(resume_path);
    if (to_json(loaded.options) != to_json(model_options_))
      throw ConfigError(resume_path + ": the checkpoint's model config differs from this run's: " +
                        json_differences(to_json(loaded.options), to_json(model_options_), "the checkpoint", "this run"));
    const json state = loaded.metadata.value("train_state", json::object());
    if (!state.contains("global_step")) throw IoError(resume_path, "is a model file, not a training checkpoint");
    model = loaded.model;
    started_in = recorded_precision(loaded.metadata);
    epoch = state.at("epoch").get<int64_t>();
    step_in_epoch = state.at("step_in_epoch").get<int64_t>();
    global_step = state.at("global_step").get<int64_t>();
    // No epoch validated yet: best is -inf, which JSON stores as null.
    if (state.contains("best") && state["best"].is_number()) best = state["best"].get<double>();
  } else if (!continue_from_.empty()) {
    auto loaded = load_model(continue_from_);
    if (to_json(loaded.options) != to_json(model_options_))
      throw ConfigError(continue_from_ + ": the model file's config differs from this run's: " +
                        json_differences(to_json(loaded.options), to_json(model_options_), "the model file", "this run"));
    const json state = loaded.metadata.value("train_state", json::object());
    if (!state.contains("global_step"))
      throw IoError(continue_from_, "has no train_state to continue from (write one with sola export "
                                    "--keep-train-state from a sola train checkpoint)");
    model = loaded.model;
    started_in = recorded_precision(loaded.metadata);
    epoch = state.at("epoch").get<int64_t>();
    step_in_epoch = state.at("step_in_epoch").get<int64_t>();
    global_step = state.at("global_step").get<int64_t>();
    if (state.contains("best") && state["best"].is_number()) best = state["best"].get<double>();
    if (is_main)
      fmt::print(stderr, "continuing {} at epoch {} step {} (global step {}) with a new optimizer\n", continue_from_,
                 epoch + 1, step_in_epoch, global_step);
  } else {
    torch::manual_seed(static_cast<uint64_t>(options_.seed()));
    model = build_model(model_options_);
    if (!options_.init().empty()) {
      auto report = init_weights(*model, options_.init());
      if (is_main) {
        const int total = report.model_tensors > 0 ? report.model_tensors
                                                   : static_cast<int>(model->parameters().size() + model->buffers().size());
        fmt::print(stderr, "initialised {} of the model's {} tensors from {} ({} of the file's tensors unused)\n",
                   report.loaded, total, options_.init(), report.skipped.size());
        if (!report.warning.empty()) fmt::print(stderr, "warning: --init {}: {}\n", options_.init(), report.warning);
      }
    }
  }
  if (world > 1) {  // every rank starts from rank 0's weights and statistics
    auto tensors = model->parameters();
    for (auto& b : model->buffers()) tensors.push_back(b);
    torch::NoGradGuard no_grad;
    group.broadcast(tensors, 0);
  }
  const torch::Device device(options_.device());
  if (device.is_cuda() && !torch::cuda::is_available())
    throw ConfigError("device=" + options_.device() + ", but this LibTorch build sees no CUDA GPU");
  model->to(device);
  if (options_.channels_last()) {  // NHWC weights: the fast layout of oneDNN and of cuDNN's bf16 kernels
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters())
      if (p.dim() == 4) p.set_data(p.contiguous(c10::MemoryFormat::ChannelsLast));
  }
  const PrecisionChoice precision =
      run_precision(options_, (capabilities ? capabilities : CapabilityQuery(device_capabilities))(options_.device()),
                    started_in);
  const bool bf16 = precision.bf16();
  if (is_main) {
    fmt::print(stderr, "{}\n", precision.describe());
    if (!precision.warning.empty()) fmt::print(stderr, "warning: precision=bf16: {}\n", precision.warning);
  }
  const double crop_scale = provenance_crop_scale(provenance_);
  const c10::DeviceType device_type = device.type();
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(options_.lr())
                                                        .betas({options_.adam_beta1(), options_.adam_beta2()})
                                                        .eps(options_.adam_eps())
                                                        .weight_decay(options_.weight_decay()));
  if (resume) {
    load_optimizer(resume_path, optimizer, device);
    if (is_main) {
      truncate_log(log_path, global_step, epoch);
      fmt::print(stderr, "resuming {} at epoch {} step {} (global step {})\n", resume_path, epoch + 1, step_in_epoch,
                 global_step);
    }
  } else if (is_main && !continue_from_.empty()) {
    truncate_log(log_path, global_step, epoch);  // the log of the run so far, if it was copied here
  } else if (is_main) {
    std::ofstream(log_path, std::ios::trunc);
  }
  // Early stopping: the main rank holds the validation history (the log kept above) and decides
  // for every rank.
  if (options_.patience() > 0 && !val_ && extra_val_.empty())
    throw ConfigError(fmt::format("patience={} needs a validation set (--val or --val-extra)", options_.patience()));
  std::vector<json> epoch_history;
  if (is_main && options_.patience() > 0) epoch_history = read_epoch_lines(log_path);
  std::string stop_reason;
  auto patience_spent = [&]() {
    bool stop = false;
    if (is_main) {
      const ValidationStall stall = validation_stall(epoch_history);
      stop = stall.epochs_since_improvement >= options_.patience();
      if (stop)
        stop_reason = fmt::format("early stop (patience {}): no validation frame AUC has improved over the last {} epochs: {}",
                                  options_.patience(), stall.epochs_since_improvement, stall.describe());
    }
    if (world > 1) {
      std::vector<torch::Tensor> flag{torch::tensor({stop ? 1.0 : 0.0}, torch::kDouble)};
      group.broadcast(flag, 0);
      stop = flag[0].item<double>() > 0;
    }
    return stop;
  };
  const int64_t warmup_origin = continue_from_.empty() || resume ? 0 : global_step;
  const LossOptions loss_opts = loss_options();

  const data::SampleSource& train_set = *train_;
  const int64_t full_steps = static_cast<int64_t>(train_set.size()) / options_.batch_size();
  const int64_t steps_per_epoch =
      std::max<int64_t>(1, options_.max_steps_per_epoch() > 0 ? std::min(full_steps, options_.max_steps_per_epoch()) : full_steps);
  const int64_t total_steps = steps_per_epoch * options_.epochs();

  TrainSummary summary;
  if (is_main) {
    const auto loss_mode = loss_options().mode();
    const std::string loss_text =
        // The manifest reader refuses masks on real images: every mask is a fake's.
        describe_loss(loss_mode, static_cast<int64_t>(train_->manifest().n_with_mask()),
                      static_cast<int64_t>(train_->manifest().n_fake() - train_->manifest().n_with_mask()),
                      uses_pseudo_fakes(options_));
    fmt::print(stderr, "loss: {}\n", loss_text);
    json cfg{{"model", to_json(model_options_)},
             {"train", options_to_json(options_)},
             {"loss", {{"mode", loss_mode}, {"what_it_does", loss_text}}},
             {"precision", precision.to_json()}};
    cfg["provenance"] = provenance_;
    const std::string config_path = (fs::path(out_dir_) / "config.json").string();
    if (resume || !continue_from_.empty()) {  // the record it replaces: say what differed (hand edits, other flags)
      std::ifstream in(config_path);
      const json old = in ? json::parse(in, nullptr, false) : json();
      if (old.is_object())
        for (const char* section : {"model", "train"}) {
          const std::string diff = json_differences(old.value(section, json::object()), cfg[section], "recorded", "this run");
          if (!diff.empty())
            fmt::print(stderr, "note: {} recorded other {} settings than this run's, which replace them: {}\n", config_path,
                       section, diff);
        }
    }
    write_atomically(config_path,
                     [&](const std::string& tmp) { std::ofstream(tmp) << cfg.dump(2) << '\n'; });
  }

  // A checkpoint records where training continues: (next_epoch, next_step) and the global step.
  auto save_checkpoint = [&](const std::string& path, bool with_optimizer, int64_t next_epoch, int64_t next_step) {
    json meta{{"train_state", {{"epoch", next_epoch}, {"step_in_epoch", next_step}, {"global_step", global_step}, {"best", best}}},
              {"train", options_to_json(options_)},
              {"provenance", provenance_},
              {"precision", precision.resolved}};
    if (crop_scale > 0) meta["crop_scale"] = crop_scale;  // sola detect/serve crop faces at the training framing
    if (is_main) save_model(path, *model, meta, with_optimizer ? &optimizer : nullptr, SaveOptions{false, with_optimizer});
  };
  std::ofstream log;
  if (is_main) log.open(log_path, std::ios::app);
  auto log_line = [&](const json& j) {
    if (!is_main) return;
    log << j.dump() << '\n';
    log.flush();
  };

  double images_seen = 0, seconds_training = 0;  // wall time of the training loops, data waits included
  const int64_t warmup_steps = static_cast<int64_t>(std::llround(options_.warmup_epochs() * steps_per_epoch));
  for (; epoch < options_.epochs(); ++epoch, step_in_epoch = 0) {
    if (options_.patience() > 0 && step_in_epoch == 0 && patience_spent()) {
      summary.stopped_early = true;
      summary.stop_reason = stop_reason;
      if (is_main) {
        fmt::print(stderr, "{} (before epoch {})\n", stop_reason, epoch + 1);
        log_line(json{{"type", "stop"}, {"epoch", epoch}, {"reason", stop_reason}});
      }
      break;
    }
    model->train();
    auto order = train_set.training_order(static_cast<uint64_t>(epoch));
    order.resize(static_cast<size_t>(steps_per_epoch * options_.batch_size()));
    // This rank's share of every global batch: the rank-th slice of rank_batch images.
    std::vector<size_t> mine;
    mine.reserve(static_cast<size_t>(steps_per_epoch * rank_batch));
    for (int64_t k = 0; k < steps_per_epoch; ++k)
      for (int64_t j = rank * rank_batch; j < (rank + 1) * rank_batch; ++j)
        mine.push_back(order[static_cast<size_t>(k * options_.batch_size() + j)]);
    data::BatchLoader loader(train_set, mine, rank_batch, static_cast<uint64_t>(epoch),
                             static_cast<int>(options_.workers()), 4, static_cast<size_t>(step_in_epoch), true);
    ProgressBar bar(fmt::format("epoch {}/{}", epoch + 1, options_.epochs()), static_cast<size_t>(steps_per_epoch));
    double sum_loss = 0, sum_cls = 0, sum_first = 0, sum_second = 0;
    int64_t n_steps = 0;
    double data_wait = 0;  // seconds the step waited for the loader
    const auto epoch_start = std::chrono::steady_clock::now();
    for (;;) {
      const auto wait_start = std::chrono::steady_clock::now();
      auto batch = loader.next();
      const auto t0 = std::chrono::steady_clock::now();
      data_wait += std::chrono::duration<double>(t0 - wait_start).count();
      if (!batch) break;
      double lr = options_.lr();
      if (options_.lr_schedule() == "cosine")
        lr = 0.5 * options_.lr() * (1 + std::cos(M_PI * global_step / std::max<int64_t>(1, total_steps)));
      if (global_step - warmup_origin < warmup_steps)
        lr *= static_cast<double>(global_step - warmup_origin + 1) / static_cast<double>(warmup_steps);
      for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
      if (device.is_cuda()) {
        batch->images = batch->images.to(device, /*non_blocking=*/true);
        batch->labels = batch->labels.to(device, true);
        batch->patch_scores = batch->patch_scores.to(device, true);
        batch->has_mask = batch->has_mask.to(device, true);
      }
      if (options_.channels_last()) batch->images = batch->images.contiguous(c10::MemoryFormat::ChannelsLast);
      // Gradients of the micro-batches of all ranks are summed, then divided by their number: the
      // same step as one batch, and bit-identical between W processes and W micro-batches.
      compat::zero_grad(optimizer);
      auto sums = torch::zeros({4}, torch::dtype(torch::kDouble).device(device));  // loss, classifier, first, second
      for (int64_t m = 0; m < options_.micro_batches(); ++m) {
        auto part = [&](const torch::Tensor& t) { return options_.micro_batches() == 1 ? t : t.narrow(0, m * micro_size, micro_size); };
        ModelOutput out;
        {
          compat::AutocastGuard autocast(device_type, bf16, c10::kBFloat16);
          out = model->forward(part(batch->images));
        }
        out.logit = out.logit.to(torch::kFloat);  // the losses in fp32 (the SOLA head already is)
        auto terms = compute_loss(out, part(batch->labels), part(batch->patch_scores), part(batch->has_mask), loss_opts);
        sums += torch::stack({terms.total.detach(), terms.classifier.detach(), terms.first.detach(), terms.second.detach()})
                    .to(torch::kDouble);
        terms.total.backward();
      }
      if (world > 1) {
        sum_gradients(group, *model);
        std::vector<torch::Tensor> s{sums};
        group.allreduce_sum(s);
      }
      if (n_micro > 1) {
        torch::NoGradGuard no_grad;
        for (auto& p : model->parameters())
          if (p.grad().defined()) p.mutable_grad().div_(static_cast<double>(n_micro));
      }
      sums /= static_cast<double>(n_micro);
      sums = sums.cpu();
      const double loss_value = sums[0].item<double>();
      if (!std::isfinite(loss_value))
        throw Error(fmt::format("training diverged: loss is {} at epoch {} step {} (global step {}); the last good "
                                "checkpoint is {}", loss_value, epoch + 1, step_in_epoch + 1, global_step + 1, last_path));
      optimizer.step();
      model->after_optimizer_step();
      ++step_in_epoch;
      ++global_step;
      ++n_steps;
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      images_seen += static_cast<double>(options_.batch_size());
      const double cls = sums[1].item<double>(), first = sums[2].item<double>(), second = sums[3].item<double>();
      sum_loss += loss_value;
      sum_cls += cls;
      sum_first += first;
      sum_second += second;
      const double ips = static_cast<double>(options_.batch_size()) / std::max(dt, 1e-9);
      if (global_step % options_.log_every() == 0)
        log_line({{"type", "step"}, {"epoch", epoch + 1}, {"step", step_in_epoch}, {"global_step", global_step},
                  {"loss", loss_value}, {"cls", cls}, {"first", first}, {"second", second},
                  {"lr", optimizer.param_groups()[0].options().get_lr()},
                  {"images_per_second", ips}});
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
      bar.update(static_cast<size_t>(step_in_epoch),
                 fmt::format("loss {:.4f} (cls {:.3f} 1st {:.3f} 2nd {:.3f}) {:.1f} img/s, data wait {:.0f}%",
                             sum_loss / n_steps, sum_cls / n_steps, sum_first / n_steps, sum_second / n_steps, ips,
                             100.0 * data_wait / std::max(elapsed, 1e-9)));
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
                    {"data_wait_seconds", data_wait},
                    {"data_wait_share", epoch_seconds > 0 ? data_wait / epoch_seconds : 0.0},
                    {"train_images_per_second", epoch_seconds > 0 ? n_steps * options_.batch_size() / epoch_seconds : 0.0},
                    {"precision", precision.resolved}};
    double criterion = n_steps ? -sum_loss / n_steps : best;
    const auto validate_start = std::chrono::steady_clock::now();
    // One validation set, scored with a progress bar under `label`.
    auto validate = [&](const auto& set, const std::string& label) {
      ProgressBar vbar(label, set.size());
      auto report = eval::summarize(eval::score_dataset(*model, set, options_.eval_batch_size(),
                                                        static_cast<int>(options_.workers()),
                                                        [&](size_t done, size_t) { vbar.update(done); }, bf16));
      vbar.finish(fmt::format("frame AUC {:.4f} video AUC {:.4f} AP {:.4f} EER {:.4f}", report.frame.auc,
                              report.video.auc, report.frame.ap, report.frame.eer));
      return report;
    };
    if (val_ && is_main) {
      auto report = validate(*val_, "  validate");
      epoch_line["val"] = report.to_json();
      criterion = report.frame.auc;
    }
    if (is_main)
      for (auto& [name, set] : extra_val_) epoch_line["val_extra"][name] = validate(*set, "  " + name).to_json();
    const double validate_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - validate_start).count();
    if (val_ || !extra_val_.empty()) epoch_line["validate_seconds"] = validate_seconds;
    summary.train_seconds += epoch_seconds;
    summary.data_wait_seconds += data_wait;
    summary.validate_seconds += validate_seconds;
    const bool improved = criterion > best;
    if (improved) best = criterion;
    epoch_line["best"] = improved;
    if (is_main && options_.patience() > 0) {
      epoch_history.push_back(epoch_line);
      epoch_line["epochs_since_improvement"] = validation_stall(epoch_history).epochs_since_improvement;
    }
    log_line(epoch_line);
    const auto checkpoint_start = std::chrono::steady_clock::now();
    if (improved) save_checkpoint(best_path, false, epoch + 1, 0);
    save_checkpoint(last_path, true, epoch + 1, 0);
    summary.checkpoint_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - checkpoint_start).count();
    if (is_main && plot_curves) plot_curves(log_path, (fs::path(out_dir_) / "curves.png").string());
    group.barrier();  // the other ranks wait for validation and checkpoints
    summary.last_epoch = epoch_line;
    if (stop_after_epoch && epoch + 1 < options_.epochs() &&
        stop_after_epoch(std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count())) {
      summary.stopped_early = true;
      summary.stop_reason = fmt::format("stop_after_epoch (a time budget) ended the run after epoch {}", epoch + 1);
      ++epoch;
      break;
    }
  }
  summary.epochs_done = epoch;
  summary.precision = precision.resolved;
  summary.steps = global_step;
  summary.best_val_auc = val_ ? best : -1;
  summary.train_images_per_second = seconds_training > 0 ? images_seen / seconds_training : 0.0;
  return summary;
}

}  // namespace sola
