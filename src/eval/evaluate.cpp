#include "eval/evaluate.h"

#include <algorithm>

#include <torch/torch.h>

#include "core/compat.h"
#include "model/sola_head.h"

namespace sola::eval {

Scored score_dataset(DetectorImpl& model, const data::SampleSource& dataset, int64_t batch_size, int workers,
                     const std::function<void(size_t, size_t)>& progress, bool bf16) {
  const bool was_training = model.is_training();
  model.eval();
  torch::NoGradGuard no_grad;
  Scored s;
  data::BatchLoader loader(dataset, data::epoch_order(dataset.size(), 0, 0, false), batch_size, 0, workers);
  const auto device = model.parameters().empty() ? torch::Device(torch::kCPU) : model.parameters().front().device();
  size_t done = 0;
  while (auto batch = loader.next()) {
    ModelOutput out;
    {
      compat::AutocastGuard autocast(device.type(), bf16);
      out = model.forward(batch->images.to(device));
    }
    auto logits = out.logit.to(torch::kFloat).cpu().contiguous();
    auto probs = torch::sigmoid(logits);
    torch::Tensor peaks;
    if (out.has_maps()) peaks = anomaly_peak(out.second_order).to(torch::kDouble).cpu().contiguous();
    for (int64_t i = 0; i < probs.size(0); ++i) {
      const auto& sample = dataset.manifest().samples[batch->indices[i]];
      s.scores.push_back(probs[i].item<double>());
      s.logits.push_back(logits[i].item<double>());
      if (peaks.defined()) s.map_peaks.push_back(peaks[i].item<double>());
      s.labels.push_back(sample.label);
      s.groups.push_back(sample.group);
      s.methods.push_back(sample.method);
      s.paths.push_back(sample.path);
    }
    done += batch->indices.size();
    if (progress) progress(done, dataset.size());
  }
  if (was_training) model.train();
  return s;
}

Report summarize(const Scored& s, double threshold) {
  Report r;
  r.frame = compute_metrics(s.scores, s.labels, threshold);
  auto videos = aggregate_by_group(s.scores, s.labels, s.groups);
  r.video = compute_metrics(videos.scores, videos.labels, threshold);
  r.per_method_auc = auc_per_method(s.scores, s.labels, s.methods);
  if (!s.map_peaks.empty()) {
    TORCH_CHECK(s.map_peaks.size() == s.scores.size(), "summarize: ", s.map_peaks.size(), " map peaks for ",
                s.scores.size(), " scores");
    MapReport m;
    m.frame = compute_metrics(s.map_peaks, s.labels, threshold);
    double sum[2] = {0, 0};
    for (size_t i = 0; i < s.map_peaks.size(); ++i) sum[s.labels[i] ? 1 : 0] += s.map_peaks[i];
    m.real_mean_peak = sum[0] / static_cast<double>(std::max<size_t>(m.frame.n_real, 1));
    m.fake_mean_peak = sum[1] / static_cast<double>(std::max<size_t>(m.frame.n_fake, 1));
    r.map = m;
  }
  return r;
}

namespace {
nlohmann::json metrics_json(const Metrics& m) {
  return {{"n", m.n}, {"n_real", m.n_real}, {"n_fake", m.n_fake}, {"auc", m.auc},
          {"ap", m.ap}, {"eer", m.eer}, {"acc", m.acc}};
}
}  // namespace

nlohmann::json Report::to_json() const {
  nlohmann::json j{{"frame", metrics_json(frame)}, {"video", metrics_json(video)}};
  j["per_method_auc"] = nlohmann::json::object();
  for (const auto& [method, auc] : per_method_auc) j["per_method_auc"][method] = auc;
  if (map) {
    j["map"] = metrics_json(map->frame);
    j["map"]["real_mean_peak"] = map->real_mean_peak;
    j["map"]["fake_mean_peak"] = map->fake_mean_peak;
  }
  return j;
}

}  // namespace sola::eval
