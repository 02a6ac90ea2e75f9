#include "data/dataset.h"

#include <algorithm>
#include <numeric>
#include <random>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "core/error.h"
#include "data/face.h"

namespace sola::data {

namespace {

uint64_t mix(uint64_t a, uint64_t b) {  // splitmix64-style combination
  uint64_t z = a + 0x9e3779b97f4a7c15ULL * (b + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

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
  if (options_.pseudo_fakes()) {
    for (size_t i = 0; i < manifest_.samples.size(); ++i)
      if (manifest_.samples[i].label == 0) {
        pseudo_index_[i] = manifest_.samples.size() + pseudo_of_.size();
        pseudo_of_.push_back(i);
      }
  }
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
  const uint64_t draw = mix(mix(options_.seed() ^ 0x5b2ULL, epoch), index);
  if (static_cast<double>(draw >> 11) * 0x1.0p-53 >= options_.pseudo_fake_share()) return SIZE_MAX;
  if (group_real_[index] != SIZE_MAX) return group_real_[index];
  return reals_[mix(draw, 0x7e41ULL) % reals_.size()];
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
    auto blend = self_blend(image, geometry.landmarks, geometry.box, mix(mix(options_.seed() ^ 0x5b1ULL, epoch), index),
                            options_.self_blend());
    image = blend.fake;
    mask = blend.mask;
    label = 1;
  } else if (!s.mask.empty() && s.label == 1) {
    mask = cv::imread(s.mask, cv::IMREAD_GRAYSCALE);
    if (mask.empty()) throw IoError(s.mask, "cannot decode mask (" + where(s) + ")");
    if (mask.size() != image.size())
      throw IoError(s.mask, "mask is " + std::to_string(mask.cols) + "x" + std::to_string(mask.rows) + ", image is " +
                                std::to_string(image.cols) + "x" + std::to_string(image.rows) + " (" + where(s) + ")");
  }
  const int size = static_cast<int>(options_.input_size());
  if (image.rows != size || image.cols != size) {
    const int interp = (image.rows > size && image.cols > size) ? cv::INTER_AREA : cv::INTER_LINEAR;
    cv::resize(image, image, cv::Size(size, size), 0, 0, interp);
    if (!mask.empty()) cv::resize(mask, mask, cv::Size(size, size), 0, 0, cv::INTER_AREA);
  }
  if (options_.augment()) {
    std::mt19937 rng(static_cast<uint32_t>(mix(mix(options_.seed(), epoch), index)));
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

Batch FaceDataset::collate(const std::vector<size_t>& indices, uint64_t epoch) const {
  std::vector<torch::Tensor> images, scores;
  std::vector<float> labels;
  std::vector<uint8_t> masks;
  for (size_t i : indices) {
    auto ex = get(i, epoch);
    images.push_back(ex.image);
    scores.push_back(ex.patch_scores);
    labels.push_back(static_cast<float>(ex.label));
    masks.push_back(ex.has_mask);
  }
  Batch b;
  b.images = torch::stack(images);
  b.patch_scores = torch::stack(scores);
  b.labels = torch::tensor(labels);
  b.has_mask = torch::tensor(std::vector<int64_t>(masks.begin(), masks.end())).to(torch::kBool);
  b.indices = indices;
  return b;
}

std::vector<size_t> epoch_order(size_t n, uint64_t seed, uint64_t epoch, bool shuffle) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  if (shuffle) {
    std::mt19937_64 rng(mix(seed ^ 0x5eedULL, epoch));
    // Fisher-Yates with our own draws: std::shuffle's use of the engine is implementation-defined.
    for (size_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  }
  return order;
}

BatchLoader::BatchLoader(const FaceDataset& dataset, std::vector<size_t> order, int64_t batch_size, uint64_t epoch,
                         int workers, int prefetch, size_t first_batch, bool drop_last)
    : dataset_(dataset), order_(std::move(order)), batch_size_(batch_size), epoch_(epoch), prefetch_(std::max(1, prefetch)) {
  TORCH_CHECK(batch_size_ > 0, "batch size must be positive, got ", batch_size_);
  num_batches_ = drop_last ? order_.size() / batch_size_ : (order_.size() + batch_size_ - 1) / batch_size_;
  next_claim_ = next_deliver_ = std::min(first_batch, num_batches_);
  for (int w = 0; w < std::max(1, workers); ++w) threads_.emplace_back([this] { work(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void BatchLoader::work() {
  for (;;) {
    size_t b;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] { return stop_ || error_ || next_claim_ >= num_batches_ || next_claim_ < next_deliver_ + prefetch_; });
      if (stop_ || error_ || next_claim_ >= num_batches_) return;
      b = next_claim_++;
    }
    try {
      const size_t begin = b * batch_size_;
      const size_t end = std::min(order_.size(), begin + batch_size_);
      Batch batch = dataset_.collate(std::vector<size_t>(order_.begin() + begin, order_.begin() + end), epoch_);
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.emplace(b, std::move(batch));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    cv_.notify_all();
  }
}

std::optional<Batch> BatchLoader::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (next_deliver_ >= num_batches_) return std::nullopt;
  cv_.wait(lock, [&] { return error_ || ready_.count(next_deliver_); });
  if (error_) std::rethrow_exception(error_);
  Batch b = std::move(ready_.at(next_deliver_));
  ready_.erase(next_deliver_++);
  lock.unlock();
  cv_.notify_all();
  return b;
}

}  // namespace sola::data
