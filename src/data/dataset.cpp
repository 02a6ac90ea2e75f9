#include "data/dataset.h"

#include <algorithm>
#include <cmath>
#include <random>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "core/error.h"
#include "data/face.h"
#include "data/mask_size.h"

namespace sola::data {

namespace {


std::string where(const Sample& s) { return s.source + ":" + std::to_string(s.line); }

}  // namespace

FaceDataset::FaceDataset(Manifest manifest, DatasetOptions options)
    : manifest_(std::move(manifest)), options_(std::move(options)) {
  if (options_.input_size() % options_.grid() != 0)
    throw ConfigError("input_size " + std::to_string(options_.input_size()) + " is not a multiple of grid " +
                      std::to_string(options_.grid()));
  if (options_.augment()) validate(options_.augment_options());
  pseudo_index_.assign(manifest_.samples.size(), SIZE_MAX);
  if (!(options_.pseudo_fake_share() >= 0 && options_.pseudo_fake_share() <= 1))
    throw ConfigError("pseudo_fake_share must be in [0, 1], got " + std::to_string(options_.pseudo_fake_share()));
  if (options_.pseudo_fakes() || options_.pseudo_fake_share() > 0) options_.self_blend().validate();
  if (options_.pseudo_fake_share() > 0) {
    std::map<std::string, size_t> real_of_group;
    for (size_t i = 0; i < manifest_.samples.size(); ++i)
      if (manifest_.samples[i].label == 0) {
        reals_.push_back(i);
        if (!manifest_.samples[i].group.empty()) real_of_group.emplace(manifest_.samples[i].group, i);
      }
    if (reals_.empty()) throw ConfigError("pseudo_fake_share needs real images to blend, and the manifest has none");
    group_real_.assign(manifest_.samples.size(), SIZE_MAX);
    for (size_t i = 0; i < manifest_.samples.size(); ++i) {
      auto it = real_of_group.find(manifest_.samples[i].group);
      if (manifest_.samples[i].label == 1 && it != real_of_group.end()) group_real_[i] = it->second;
    }
  }
  // Every sample's source manifest (a manifest built in memory, without sources, is one source).
  std::map<std::string, size_t> source_index;
  for (size_t k = 0; k < manifest_.sources.size(); ++k) source_index.emplace(manifest_.sources[k], k);
  source_of_.assign(manifest_.samples.size(), 0);
  std::vector<bool> source_has_fake(std::max<size_t>(1, manifest_.sources.size()), false);
  for (size_t i = 0; i < manifest_.samples.size(); ++i) {
    auto it = source_index.find(manifest_.samples[i].source);
    source_of_[i] = it == source_index.end() ? 0 : it->second;
    if (manifest_.samples[i].label == 1) source_has_fake[source_of_[i]] = true;
  }
  if (options_.pseudo_fakes() || options_.blend_real_only_sources()) {
    for (size_t i = 0; i < manifest_.samples.size(); ++i)
      if (manifest_.samples[i].label == 0 && (options_.pseudo_fakes() || !source_has_fake[source_of_[i]])) {
        pseudo_index_[i] = manifest_.samples.size() + pseudo_of_.size();
        pseudo_of_.push_back(i);
      }
    if (!pseudo_of_.empty()) options_.self_blend().validate();
  }
  if (!options_.source_weights().empty()) {
    const auto& w = options_.source_weights();
    const size_t n_sources = std::max<size_t>(1, manifest_.sources.size());
    if (w.size() != n_sources)
      throw ConfigError("source_weights: " + std::to_string(w.size()) + " weights for " + std::to_string(n_sources) +
                        " training manifests; give one weight per --train manifest, in their order");
    double sum = 0;
    for (double x : w) {
      if (!(x >= 0 && std::isfinite(x)))
        throw ConfigError("source_weights: weight " + std::to_string(x) + " must be a finite number >= 0");
      sum += x;
    }
    if (!(sum > 0)) throw ConfigError("source_weights: the weights sum to 0; at least one source must supply samples");
    for (double x : w) weights_.push_back(x / sum);
    source_samples_.resize(n_sources);
    for (size_t i = 0; i < manifest_.samples.size(); ++i) source_samples_[source_of_[i]].push_back(i);
    for (size_t k = 0; k < n_sources; ++k)
      if (weights_[k] > 0 && source_samples_[k].empty())
        throw ConfigError("source_weights: source " + (k < manifest_.sources.size() ? manifest_.sources[k] : std::string("0")) +
                          " has weight " + std::to_string(w[k]) + " but no sample");
  }
}

std::vector<FaceDataset::SourceShare> FaceDataset::source_shares() const {
  const size_t n_sources = std::max<size_t>(1, manifest_.sources.size());
  std::vector<SourceShare> out(n_sources);
  for (size_t k = 0; k < n_sources; ++k) out[k].source = k < manifest_.sources.size() ? manifest_.sources[k] : "";
  for (size_t i = 0; i < manifest_.samples.size(); ++i) {
    auto& s = out[source_of_[i]];
    ++s.samples;
    ++(manifest_.samples[i].label ? s.fakes : s.reals);
    if (pseudo_index_[i] != SIZE_MAX) ++s.samples, ++s.pseudo_fakes;
  }
  for (size_t k = 0; k < n_sources; ++k) {
    out[k].weight = weights_.empty() ? static_cast<double>(out[k].samples) / static_cast<double>(std::max<size_t>(1, size()))
                                     : weights_[k];
    out[k].passes = out[k].samples ? out[k].weight * static_cast<double>(size()) / static_cast<double>(out[k].samples) : 0;
  }
  return out;
}

FaceDataset::FaceGeometry FaceDataset::face_geometry(size_t sample, const cv::Mat& image) const {
  {
    std::lock_guard<std::mutex> lock(geometry_mutex_);
    auto it = geometry_.find(sample);
    if (it != geometry_.end()) return it->second;
  }
  // One detector and landmark model per loader thread, made on first use.
  thread_local std::unique_ptr<FaceDetector> detector;
  thread_local std::unique_ptr<LandmarkPredictor> predictor;
  if (!detector) detector = make_face_detector();
  if (!predictor) predictor = std::make_unique<LandmarkPredictor>();
  FaceGeometry g;
  g.landmarks = find_landmarks(image, *detector, *predictor, &g.box);
  std::lock_guard<std::mutex> lock(geometry_mutex_);
  geometry_.emplace(sample, g);
  return g;
}

std::vector<size_t> FaceDataset::training_order(uint64_t epoch) const {
  if (!weights_.empty()) {
    // Units: a sample, or a real and its pseudo-fake, which stay together.
    const auto& units_of = source_samples_;  // per source, manifest indices
    std::vector<std::vector<size_t>> units;
    size_t drawn = 0;
    for (size_t k = 0; k < weights_.size(); ++k) {
      const auto& pool = units_of[k];
      if (pool.empty() || weights_[k] <= 0) continue;
      // Its share of the epoch, in samples (a pair counts two).
      const size_t want = static_cast<size_t>(std::llround(weights_[k] * static_cast<double>(size())));
      size_t got = 0;
      for (uint64_t pass = 0; got < want; ++pass) {  // fresh permutations of the source, as many as needed
        const auto perm = epoch_order(pool.size(), seed_mix(options_.seed() ^ 0x50c3ULL, k), epoch * 1000003ULL + pass, true);
        for (size_t p = 0; p < perm.size() && got < want; ++p) {
          const size_t i = pool[perm[p]];
          std::vector<size_t> unit{i};
          if (pseudo_index_[i] != SIZE_MAX) unit.push_back(pseudo_index_[i]);
          got += unit.size();
          units.push_back(std::move(unit));
        }
      }
      drawn += got;
    }
    // Rounding may leave the epoch a sample or two short: topped up from the heaviest source.
    const size_t heaviest = static_cast<size_t>(std::max_element(weights_.begin(), weights_.end()) - weights_.begin());
    for (size_t p = 0; drawn < size() && !units_of[heaviest].empty(); ++p) {
      const size_t i = units_of[heaviest][p % units_of[heaviest].size()];
      units.push_back({i});
      ++drawn;
    }
    const auto shuffle = epoch_order(units.size(), options_.seed() ^ 0x7a11ULL, epoch, true);
    std::vector<size_t> out;
    out.reserve(drawn);
    for (size_t u : shuffle) out.insert(out.end(), units[u].begin(), units[u].end());
    return out;
  }
  auto order = epoch_order(manifest_.samples.size(), options_.seed(), epoch, true);
  if (pseudo_of_.empty()) return order;
  std::vector<size_t> out;
  out.reserve(size());
  for (size_t i : order) {
    out.push_back(i);
    if (pseudo_index_[i] != SIZE_MAX) out.push_back(pseudo_index_[i]);
  }
  return out;
}

size_t FaceDataset::replacement_source(size_t index, uint64_t epoch) const {
  if (options_.pseudo_fake_share() <= 0 || index >= manifest_.samples.size() || manifest_.samples[index].label != 1)
    return SIZE_MAX;
  const uint64_t draw = seed_mix(seed_mix(options_.seed() ^ 0x5b2ULL, epoch), index);
  if (static_cast<double>(draw >> 11) * 0x1.0p-53 >= options_.pseudo_fake_share()) return SIZE_MAX;
  if (group_real_[index] != SIZE_MAX) return group_real_[index];
  return reals_[seed_mix(draw, 0x7e41ULL) % reals_.size()];
}

Example FaceDataset::get(size_t index, uint64_t epoch) const {
  const size_t n = manifest_.samples.size();
  if (index >= size()) throw std::out_of_range("FaceDataset index " + std::to_string(index) + " >= " + std::to_string(size()));
  const size_t replaced_by = replacement_source(index, epoch);
  const bool pseudo = index >= n || replaced_by != SIZE_MAX;
  const size_t source = index >= n ? pseudo_of_[index - n] : replaced_by != SIZE_MAX ? replaced_by : index;
  const Sample& s = manifest_.samples[source];
  cv::Mat image = cv::imread(s.path, cv::IMREAD_COLOR);
  if (image.empty()) throw IoError(s.path, "cannot decode image (" + where(s) + ")");
  cv::Mat mask;
  int label = s.label;
  if (pseudo) {  // a new blend every epoch; the face geometry is found once
    const auto geometry = face_geometry(source, image);
    auto blend = self_blend(image, geometry.landmarks, geometry.box, seed_mix(seed_mix(options_.seed() ^ 0x5b1ULL, epoch), index),
                            options_.self_blend());
    image = blend.fake;
    mask = blend.mask;
    label = 1;
  } else if (!s.mask.empty() && s.label == 1) {
    mask = cv::imread(s.mask, cv::IMREAD_GRAYSCALE);
    if (mask.empty()) throw IoError(s.mask, "cannot decode mask (" + where(s) + ")");
    const std::string problem = mask_size_problem(s.mask, mask.cols, mask.rows, image.cols, image.rows);
    if (!problem.empty()) throw IoError(where(s), problem);
  }
  const int size = static_cast<int>(options_.input_size());
  if (image.rows != size || image.cols != size) {
    const int interp = (image.rows > size && image.cols > size) ? cv::INTER_AREA : cv::INTER_LINEAR;
    cv::resize(image, image, cv::Size(size, size), 0, 0, interp);
    if (!mask.empty()) cv::resize(mask, mask, cv::Size(size, size), 0, 0, cv::INTER_AREA);
  }
  for (size_t k = 0; k < options_.perturb().size(); ++k)
    perturb(image, options_.perturb()[k], seed_mix(seed_mix(options_.seed() ^ 0x9e7ULL, index), k));
  if (options_.augment()) {
    std::mt19937 rng(static_cast<uint32_t>(seed_mix(seed_mix(options_.seed(), epoch), index)));
    auto out = augment(image, mask, options_.augment_options(), rng);
    image = out.image;
    mask = out.mask;
  }
  cv::cvtColor(image, image, cv::COLOR_BGR2RGB);
  Example ex;
  ex.label = label;
  ex.image = torch::from_blob(image.data, {size, size, 3}, torch::kUInt8)
                 .permute({2, 0, 1})
                 .to(torch::kFloat)
                 .div_(255.0);
  const int g = static_cast<int>(options_.grid());
  if (!mask.empty()) {
    // Mean of each patch = area-resize to G x G (exact when the size is a multiple of G).
    cv::Mat m;
    mask.convertTo(m, CV_32F, 1.0 / 255.0);
    cv::Mat patches;
    cv::resize(m, patches, cv::Size(g, g), 0, 0, cv::INTER_AREA);
    ex.patch_scores = torch::from_blob(patches.ptr<float>(), {g, g}, torch::kFloat).clone();
    ex.has_mask = true;
  } else {
    ex.patch_scores = torch::zeros({g, g});
  }
  return ex;
}

}  // namespace sola::data
