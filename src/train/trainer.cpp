#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/compat.h"
#include "core/error.h"
#include "core/json_diff.h"
#include "eval/evaluate.h"
#include "model/checkpoint.h"
#include "model/pretrained.h"
#include "train/distributed.h"
#include "train/lr_schedule.h"
#include "train/progress.h"
#include "train/run_summary.h"

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
  return unique_epochs(lines);  // an epoch logged twice (resumed from an older checkpoint) counts once
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

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

/// Where a run stands: its next optimizer step is step `step_in_epoch` of epoch `epoch` (both from
/// 0) and the `global_step`-th of the run; `best` is the best epoch criterion so far (-inf before
/// the first epoch, which JSON stores as null); the learning-rate warm-up counts from global step
/// `warmup_start` (0, or where a continued run started its new optimizer). A checkpoint records it
/// as its "train_state" (warmup_start only where it is not 0).
struct Position {
  int64_t epoch = 0, step_in_epoch = 0, global_step = 0;
  double best = -std::numeric_limits<double>::infinity();
  int64_t warmup_start = 0;

  json to_json() const {
    json state{{"epoch", epoch}, {"step_in_epoch", step_in_epoch}, {"global_step", global_step}, {"best", best}};
    if (warmup_start != 0) state["warmup_start"] = warmup_start;
    return state;
  }
};

/// How a run starts: anew; from its own last checkpoint (resume: weights, position and optimizer
/// state); or from a model file's weights and position, with a new optimizer (continue_from).
enum class Start { fresh, resume, carry_on };

/// What a run starts from: the model (on the CPU), its position and the precision it trained in.
struct StartState {
  Detector model;
  Position position;
  std::string precision;  ///< the precision a restored run started in (empty: a fresh run, or none recorded)
};

/// A new model for a fresh run: initialised from `seed`, then from the `init` weights if named.
StartState fresh_state(const ModelOptions& model_options, const TrainOptions& options, bool is_main) {
  torch::manual_seed(static_cast<uint64_t>(options.seed()));
  StartState start{build_model(model_options), {}, ""};
  if (!options.init().empty()) {
    auto report = init_weights(*start.model, options.init());
    if (is_main) {
      const int total = report.model_tensors > 0 ? report.model_tensors
                                                 : static_cast<int>(start.model->parameters().size() +
                                                                    start.model->buffers().size());
      fmt::print(stderr, "initialised {} of the model's {} tensors from {} ({} of the file's tensors unused)\n",
                 report.loaded, total, options.init(), report.skipped.size());
      if (!report.warning.empty()) fmt::print(stderr, "warning: --init {}: {}\n", options.init(), report.warning);
    }
  }
  return start;
}

/// The weights, position and precision `file` holds (a checkpoint for resume, a model file with a
/// train_state for carry_on, whose new optimizer warms up from its position). Throws ConfigError when its model config is not `model_options`,
/// IoError when it holds no training position.
StartState restore_state(const std::string& file, Start how, const ModelOptions& model_options) {
  const bool checkpoint = how == Start::resume;
  auto loaded = load_model(file);
  if (to_json(loaded.options) != to_json(model_options))
    throw ConfigError(fmt::format("{}: {} differs from this run's: {}", file,
                                  checkpoint ? "the checkpoint's model config" : "the model file's config",
                                  json_differences(to_json(loaded.options), to_json(model_options),
                                                   checkpoint ? "the checkpoint" : "the model file", "this run")));
  const json state = loaded.metadata.value("train_state", json::object());
  if (!state.contains("global_step"))
    throw IoError(file, checkpoint ? "is a model file, not a training checkpoint"
                                   : "has no train_state to continue from (write one with sola export "
                                     "--keep-train-state from a sola train checkpoint)");
  StartState start{loaded.model, {}, recorded_precision(loaded.metadata)};
  start.position.epoch = state.at("epoch").get<int64_t>();
  start.position.step_in_epoch = state.at("step_in_epoch").get<int64_t>();
  start.position.global_step = state.at("global_step").get<int64_t>();
  if (state.contains("best") && state["best"].is_number()) start.position.best = state["best"].get<double>();
  start.position.warmup_start = checkpoint ? state.value("warmup_start", int64_t{0}) : start.position.global_step;
  return start;
}

/// Writes the run's config.json. A run carried on (resumed, continued) replaces the record of the
/// run so far, and first says which model and train settings differ from it (hand edits, other flags).
void write_config(const std::string& path, const json& cfg, bool carried_on) {
  if (carried_on) {
    std::ifstream in(path);
    const json old = in ? json::parse(in, nullptr, false) : json();
    if (old.is_object())
      for (const char* section : {"model", "train"}) {
        const std::string diff = json_differences(old.value(section, json::object()), cfg[section], "recorded", "this run");
        if (!diff.empty())
          fmt::print(stderr, "note: {} recorded other {} settings than this run's, which replace them: {}\n", path,
                     section, diff);
      }
  }
  write_atomically(path, [&](const std::string& tmp) { std::ofstream(tmp) << cfg.dump(2) << '\n'; });
}

/// What the epochs of a run share, set up once by Trainer::run: the recipe, the process group, the
/// model and its optimizer on the train device, and the files a run writes while it trains
/// (metrics.jsonl, checkpoints), which the main process alone writes.
struct RunContext {
  const TrainOptions& options;
  ProcessGroup& group;
  Detector model;
  torch::optim::Adam& optimizer;
  LossOptions loss;
  torch::Device device;
  bool bf16;
  int64_t steps_per_epoch;    ///< optimizer steps an epoch
  int64_t rank_batch;         ///< this process's share of every batch
  std::string last_path;      ///< OUT/last.pt
  json checkpoint_metadata;   ///< what every checkpoint records besides its train_state
  std::ofstream log;          ///< OUT/metrics.jsonl, appended to (main process)

  bool is_main() const { return group.rank() == 0; }
  void log_line(const json& line) {
    if (!is_main()) return;
    log << line.dump() << '\n';
    log.flush();
  }
  /// A checkpoint that continues at `next` (with the optimizer state: a training checkpoint).
  void save_checkpoint(const std::string& path, bool with_optimizer, const Position& next) {
    if (!is_main()) return;
    json meta = checkpoint_metadata;
    meta["train_state"] = next.to_json();
    save_model(path, *model, meta, with_optimizer ? &optimizer : nullptr, SaveOptions{false, with_optimizer});
  }
};

/// One global batch's forward and backward passes: leaves its gradient in the model's parameters
/// and returns its loss terms (total, classifier, first, second; double, on the CPU). The gradients
/// of the micro-batches of all processes are summed, then divided by their number: the same step as
/// one batch, and bit-identical between W processes and W micro-batches.
torch::Tensor compute_gradients(RunContext& run, data::Batch& batch) {
  const TrainOptions& o = run.options;
  if (run.device.is_cuda()) {
    batch.images = batch.images.to(run.device, /*non_blocking=*/true);
    batch.labels = batch.labels.to(run.device, true);
    batch.patch_scores = batch.patch_scores.to(run.device, true);
    batch.has_mask = batch.has_mask.to(run.device, true);
  }
  if (o.channels_last()) batch.images = batch.images.contiguous(c10::MemoryFormat::ChannelsLast);
  const int64_t micro_size = run.rank_batch / o.micro_batches(), n_micro = run.group.size() * o.micro_batches();
  compat::zero_grad(run.optimizer);
  auto sums = torch::zeros({4}, torch::dtype(torch::kDouble).device(run.device));  // loss, classifier, first, second
  for (int64_t m = 0; m < o.micro_batches(); ++m) {
    auto part = [&](const torch::Tensor& t) { return o.micro_batches() == 1 ? t : t.narrow(0, m * micro_size, micro_size); };
    ModelOutput out;
    {
      compat::AutocastGuard autocast(run.device.type(), run.bf16, c10::kBFloat16);
      out = run.model->forward(part(batch.images));
    }
    out.logit = out.logit.to(torch::kFloat);  // the losses in fp32 (the SOLA head already is)
    auto terms = compute_loss(out, part(batch.labels), part(batch.patch_scores), part(batch.has_mask), run.loss);
    sums += torch::stack({terms.total.detach(), terms.classifier.detach(), terms.first.detach(), terms.second.detach()})
                .to(torch::kDouble);
    terms.total.backward();
  }
  if (run.group.size() > 1) {
    sum_gradients(run.group, *run.model);
    std::vector<torch::Tensor> s{sums};
    run.group.allreduce_sum(s);
  }
  if (n_micro > 1) {
    torch::NoGradGuard no_grad;
    for (auto& p : run.model->parameters())
      if (p.grad().defined()) p.mutable_grad().div_(static_cast<double>(n_micro));
  }
  sums /= static_cast<double>(n_micro);
  return sums.cpu();
}

/// The training part of one epoch: its loss terms summed over its steps and its times.
struct EpochTotals {
  double loss = 0, cls = 0, first = 0, second = 0;
  int64_t steps = 0;
  double data_wait = 0;  ///< seconds the steps waited for the loader
  double seconds = 0;    ///< wall time of the epoch's steps, data waits included
  Clock::time_point start;

  double mean(double sum) const { return steps ? sum / steps : 0.0; }
  /// The epoch's line of metrics.jsonl, as far as training goes (validation adds to it).
  json to_json(int64_t epoch_number, int64_t global_step, int64_t batch_size, const std::string& precision) const {
    return {{"type", "epoch"}, {"epoch", epoch_number}, {"global_step", global_step},
            {"train_loss", mean(loss)}, {"train_cls", mean(cls)}, {"train_first", mean(first)}, {"train_second", mean(second)},
            {"train_seconds", seconds},
            {"data_wait_seconds", data_wait},
            {"data_wait_share", seconds > 0 ? data_wait / seconds : 0.0},
            {"train_images_per_second", seconds > 0 ? steps * batch_size / seconds : 0.0},
            {"precision", precision}};
  }
};

/// Trains the rest of epoch `pos.epoch` from step `pos.step_in_epoch`, advancing `pos` with every
/// optimizer step; logs a step line every log_every steps, checkpoints every checkpoint_every steps
/// inside the epoch and calls `on_step` after every step.
EpochTotals train_one_epoch(RunContext& run, const data::SampleSource& train_set, Position& pos,
                            const std::function<void(int64_t)>& on_step) {
  const TrainOptions& o = run.options;
  const int64_t rank = run.group.rank();
  run.model->train();
  auto order = train_set.training_order(static_cast<uint64_t>(pos.epoch));
  order.resize(static_cast<size_t>(run.steps_per_epoch * o.batch_size()));
  // This rank's share of every global batch: the rank-th slice of rank_batch images.
  std::vector<size_t> mine;
  mine.reserve(static_cast<size_t>(run.steps_per_epoch * run.rank_batch));
  for (int64_t k = 0; k < run.steps_per_epoch; ++k)
    for (int64_t j = rank * run.rank_batch; j < (rank + 1) * run.rank_batch; ++j)
      mine.push_back(order[static_cast<size_t>(k * o.batch_size() + j)]);
  data::BatchLoader loader(train_set, mine, run.rank_batch, static_cast<uint64_t>(pos.epoch),
                           static_cast<int>(o.workers()), 4, static_cast<size_t>(pos.step_in_epoch), true);
  ProgressBar bar(fmt::format("epoch {}/{}", pos.epoch + 1, o.epochs()), static_cast<size_t>(run.steps_per_epoch));
  EpochTotals t;
  t.start = Clock::now();
  for (;;) {
    const auto wait_start = Clock::now();
    auto batch = loader.next();
    const auto t0 = Clock::now();
    t.data_wait += std::chrono::duration<double>(t0 - wait_start).count();
    if (!batch) break;
    const double lr = learning_rate(o, run.steps_per_epoch, pos.global_step, pos.warmup_start);
    for (auto& group : run.optimizer.param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
    const torch::Tensor sums = compute_gradients(run, *batch);
    const double loss_value = sums[0].item<double>();
    if (!std::isfinite(loss_value))
      throw Error(fmt::format("training diverged: loss is {} at epoch {} step {} (global step {}); the last good "
                              "checkpoint is {}", loss_value, pos.epoch + 1, pos.step_in_epoch + 1, pos.global_step + 1,
                              run.last_path));
    run.optimizer.step();
    run.model->after_optimizer_step();
    ++pos.step_in_epoch;
    ++pos.global_step;
    ++t.steps;
    const double dt = seconds_since(t0);
    const double cls = sums[1].item<double>(), first = sums[2].item<double>(), second = sums[3].item<double>();
    t.loss += loss_value;
    t.cls += cls;
    t.first += first;
    t.second += second;
    const double ips = static_cast<double>(o.batch_size()) / std::max(dt, 1e-9);
    if (pos.global_step % o.log_every() == 0)
      run.log_line({{"type", "step"}, {"epoch", pos.epoch + 1}, {"step", pos.step_in_epoch}, {"global_step", pos.global_step},
                    {"loss", loss_value}, {"cls", cls}, {"first", first}, {"second", second},
                    {"lr", run.optimizer.param_groups()[0].options().get_lr()},
                    {"images_per_second", ips}});
    bar.update(static_cast<size_t>(pos.step_in_epoch),
               fmt::format("loss {:.4f} (cls {:.3f} 1st {:.3f} 2nd {:.3f}) {:.1f} img/s, data wait {:.0f}%",
                           t.loss / t.steps, t.cls / t.steps, t.first / t.steps, t.second / t.steps, ips,
                           100.0 * t.data_wait / std::max(seconds_since(t.start), 1e-9)));
    if (o.checkpoint_every() > 0 && pos.global_step % o.checkpoint_every() == 0 && pos.step_in_epoch < run.steps_per_epoch)
      run.save_checkpoint(run.last_path, true, pos);
    if (on_step) on_step(pos.global_step);
  }
  t.seconds = seconds_since(t.start);
  bar.finish(fmt::format("loss {:.4f}", t.mean(t.loss)));
  return t;
}

/// One validation pass: `set` scored by the model, under a progress bar labelled `label`.
eval::Report evaluate(DetectorImpl& model, const data::SampleSource& set, const TrainOptions& o, bool bf16,
                      const std::string& label) {
  ProgressBar bar(label, set.size());
  auto report = eval::summarize(eval::score_dataset(model, set, o.eval_batch_size(), static_cast<int>(o.workers()),
                                                    [&](size_t done, size_t) { bar.update(done); }, bf16));
  bar.finish(fmt::format("frame AUC {:.4f} video AUC {:.4f} AP {:.4f} EER {:.4f}", report.frame.auc, report.video.auc,
                         report.frame.ap, report.frame.eer));
  return report;
}

/// Early stopping (train option `patience`): the main process keeps the run's epoch lines (those of
/// the log kept so far, then each new one) and decides for every process.
class EarlyStopping {
 public:
  EarlyStopping(int64_t patience, ProcessGroup& group, const std::string& log_path)
      : patience_(patience), group_(group) {
    if (patience_ > 0 && group_.rank() == 0) history_ = read_epoch_lines(log_path);
  }
  /// Adds the epoch's line and writes its "epochs_since_improvement" into it (main process).
  void record(json& epoch_line) {
    if (patience_ <= 0 || group_.rank() != 0) return;
    history_.push_back(epoch_line);
    epoch_line["epochs_since_improvement"] = validation_stall(history_).epochs_since_improvement;
  }
  /// True when no validation AUC has improved for `patience` epochs; `reason` then says so. Every
  /// process calls it (a collective in a distributed run).
  bool spent(std::string& reason) const {
    bool stop = false;
    if (group_.rank() == 0) {
      const ValidationStall stall = validation_stall(history_);
      stop = stall.epochs_since_improvement >= patience_;
      if (stop)
        reason = fmt::format("early stop (patience {}): no validation frame AUC has improved over the last {} epochs: {}",
                             patience_, stall.epochs_since_improvement, stall.describe());
    }
    if (group_.size() > 1) {
      std::vector<torch::Tensor> flag{torch::tensor({stop ? 1.0 : 0.0}, torch::kDouble)};
      group_.broadcast(flag, 0);
      stop = flag[0].item<double>() > 0;
    }
    return stop;
  }

 private:
  int64_t patience_;
  ProcessGroup& group_;
  std::vector<json> history_;
};

}  // namespace

TrainSummary Trainer::run(bool resume) {
  // Data parallelism: RANK/WORLD_SIZE/... as torchrun or Slurm set them (one process otherwise).
  ProcessGroup group = ProcessGroup::create(distributed_env_from_environment());
  const int world = group.size();
  const bool is_main = group.rank() == 0;
  ProgressBar::set_enabled(is_main);
  if (options_.batch_size() % (world * options_.micro_batches()) != 0)
    throw ConfigError(fmt::format("batch_size {} must divide into {} processes x {} micro_batches", options_.batch_size(),
                                  world, options_.micro_batches()));
  std::error_code ec;
  fs::create_directories(out_dir_, ec);
  if (ec) throw IoError(out_dir_, "cannot create output directory: " + ec.message());
  const std::string last_path = (fs::path(out_dir_) / "last.pt").string();
  const std::string best_path = (fs::path(out_dir_) / "best.pt").string();
  const std::string log_path = (fs::path(out_dir_) / "metrics.jsonl").string();

  // Restore the state once: a fresh model, last.pt (resume; its optimizer state below) or a model
  // file's weights and position (continue_from, with a new optimizer).
  const Start how = resume ? Start::resume : continue_from_.empty() ? Start::fresh : Start::carry_on;
  std::string restore_path = continue_from_;
  if (how == Start::resume) {
    if (!fs::exists(last_path) && !fs::exists(previous_checkpoint_path(last_path)))
      throw IoError(last_path, "cannot resume: no checkpoint in " + out_dir_);
    restore_path = resume_checkpoint(last_path);
  }
  StartState start = how == Start::fresh ? fresh_state(model_options_, options_, is_main)
                                         : restore_state(restore_path, how, model_options_);
  Position pos = start.position;
  Detector model = start.model;
  if (how == Start::carry_on && is_main)
    fmt::print(stderr, "continuing {} at epoch {} step {} (global step {}) with a new optimizer\n", continue_from_,
               pos.epoch + 1, pos.step_in_epoch, pos.global_step);
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
                    start.precision);
  if (is_main) {
    fmt::print(stderr, "{}\n", precision.describe());
    if (!precision.warning.empty()) fmt::print(stderr, "warning: precision=bf16: {}\n", precision.warning);
  }
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(options_.lr())
                                                        .betas({options_.adam_beta1(), options_.adam_beta2()})
                                                        .eps(options_.adam_eps())
                                                        .weight_decay(options_.weight_decay()));
  // metrics.jsonl: a carried-on run keeps the lines of the run so far (a continued run's log if it
  // was copied here); a fresh run starts an empty one.
  if (how == Start::resume) {
    load_optimizer(restore_path, optimizer, device);
    if (is_main) {
      truncate_log(log_path, pos.global_step, pos.epoch);
      fmt::print(stderr, "resuming {} at epoch {} step {} (global step {})\n", restore_path, pos.epoch + 1,
                 pos.step_in_epoch, pos.global_step);
    }
  } else if (is_main && how == Start::carry_on) {
    truncate_log(log_path, pos.global_step, pos.epoch);
  } else if (is_main) {
    std::ofstream(log_path, std::ios::trunc);
  }
  if (options_.patience() > 0 && !val_ && extra_val_.empty())
    throw ConfigError(fmt::format("patience={} needs a validation set (--val or --val-extra)", options_.patience()));
  EarlyStopping early_stopping(options_.patience(), group, log_path);

  const int64_t full_steps = static_cast<int64_t>(train_->size()) / options_.batch_size();
  const int64_t steps_per_epoch =
      std::max<int64_t>(1, options_.max_steps_per_epoch() > 0 ? std::min(full_steps, options_.max_steps_per_epoch()) : full_steps);
  const LossOptions loss = loss_options();
  if (is_main) {
    const std::string loss_text =
        // The manifest reader refuses masks on real images: every mask is a fake's.
        describe_loss(loss.mode(), static_cast<int64_t>(train_->manifest().n_with_mask()),
                      static_cast<int64_t>(train_->manifest().n_fake() - train_->manifest().n_with_mask()),
                      uses_pseudo_fakes(options_));
    fmt::print(stderr, "loss: {}\n", loss_text);
    json cfg{{"model", to_json(model_options_)},
             {"train", options_to_json(options_)},
             {"loss", {{"mode", loss.mode()}, {"what_it_does", loss_text}}},
             {"precision", precision.to_json()}};
    cfg["provenance"] = provenance_;
    write_config((fs::path(out_dir_) / "config.json").string(), cfg, how != Start::fresh);
  }

  json checkpoint_metadata{{"train", options_to_json(options_)}, {"provenance", provenance_}, {"precision", precision.resolved}};
  const double crop_scale = provenance_crop_scale(provenance_);
  if (crop_scale > 0) checkpoint_metadata["crop_scale"] = crop_scale;  // sola detect/serve crop faces at the training framing
  RunContext run{options_,
                 group,
                 model,
                 optimizer,
                 loss,
                 device,
                 precision.bf16(),
                 steps_per_epoch,
                 options_.batch_size() / world,
                 last_path,
                 std::move(checkpoint_metadata),
                 {}};
  if (is_main) run.log.open(log_path, std::ios::app);

  TrainSummary summary;
  double images_seen = 0;
  while (pos.epoch < options_.epochs()) {
    std::string stop_reason;
    if (options_.patience() > 0 && pos.step_in_epoch == 0 && early_stopping.spent(stop_reason)) {
      summary.stopped_early = true;
      summary.stop_reason = stop_reason;
      if (is_main) {
        fmt::print(stderr, "{} (before epoch {})\n", stop_reason, pos.epoch + 1);
        run.log_line(json{{"type", "stop"}, {"epoch", pos.epoch}, {"reason", stop_reason}});
      }
      break;
    }
    const EpochTotals totals = train_one_epoch(run, *train_, pos, on_step);
    images_seen += static_cast<double>(totals.steps * options_.batch_size());
    json epoch_line = totals.to_json(pos.epoch + 1, pos.global_step, options_.batch_size(), precision.resolved);

    // Validation (main process): best.pt follows the main set's frame AUC, else the training loss.
    double criterion = totals.steps ? -totals.loss / totals.steps : pos.best;
    const auto validate_start = Clock::now();
    if (val_ && is_main) {
      auto report = evaluate(*model, *val_, options_, run.bf16, "  validate");
      epoch_line["val"] = report.to_json();
      criterion = report.frame.auc;
    }
    if (is_main)
      for (auto& [name, set] : extra_val_)
        epoch_line["val_extra"][name] = evaluate(*model, *set, options_, run.bf16, "  " + name).to_json();
    const double validate_seconds = seconds_since(validate_start);
    if (val_ || !extra_val_.empty()) epoch_line["validate_seconds"] = validate_seconds;
    summary.train_seconds += totals.seconds;
    summary.data_wait_seconds += totals.data_wait;
    summary.validate_seconds += validate_seconds;
    const bool improved = criterion > pos.best;
    if (improved) pos.best = criterion;
    epoch_line["best"] = improved;
    early_stopping.record(epoch_line);
    run.log_line(epoch_line);

    // The epoch is done: its checkpoints continue at the next one.
    ++pos.epoch;
    pos.step_in_epoch = 0;
    const auto checkpoint_start = Clock::now();
    if (improved) run.save_checkpoint(best_path, false, pos);
    run.save_checkpoint(last_path, true, pos);
    summary.checkpoint_seconds += seconds_since(checkpoint_start);
    if (is_main && plot_curves) plot_curves(log_path, (fs::path(out_dir_) / "curves.png").string());
    group.barrier();  // the other ranks wait for validation and checkpoints
    summary.last_epoch = epoch_line;
    if (stop_after_epoch && pos.epoch < options_.epochs() && stop_after_epoch(seconds_since(totals.start))) {
      summary.stopped_early = true;
      summary.stop_reason = fmt::format("stop_after_epoch (a time budget) ended the run after epoch {}", pos.epoch);
      break;
    }
  }
  summary.epochs_done = pos.epoch;
  summary.precision = precision.resolved;
  summary.steps = pos.global_step;
  summary.best_val_auc = val_ ? pos.best : -1;
  summary.train_images_per_second = summary.train_seconds > 0 ? images_seen / summary.train_seconds : 0.0;
  return summary;
}

}  // namespace sola
