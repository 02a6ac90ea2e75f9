#include "data/sample_source.h"

#include <algorithm>
#include <numeric>
#include <random>

#include <torch/torch.h>

namespace sola::data {

uint64_t seed_mix(uint64_t a, uint64_t b) {
  uint64_t z = a + 0x9e3779b97f4a7c15ULL * (b + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

Batch SampleSource::collate(const std::vector<size_t>& indices, uint64_t epoch) const {
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
    std::mt19937_64 rng(seed_mix(seed ^ 0x5eedULL, epoch));
    // Fisher-Yates with our own draws: std::shuffle's use of the engine is implementation-defined.
    for (size_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  }
  return order;
}

BatchLoader::BatchLoader(const SampleSource& dataset, std::vector<size_t> order, int64_t batch_size, uint64_t epoch,
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
