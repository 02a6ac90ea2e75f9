#pragma once
// What the trainer and the evaluation read samples from, apart from where the pixels come from:
// FaceDataset (data/dataset.h) decodes manifest files with OpenCV; PackedDataset (data/packed.h)
// reads a packed bundle with LibTorch alone (the build without OpenCV, for the GPU machine).
// Also the epoch order and the threaded batch loader that both share.
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <torch/types.h>

#include "data/manifest.h"

namespace sola::data {

struct Example {
  torch::Tensor image;         ///< [3, S, S] float RGB in [0, 1]
  torch::Tensor patch_scores;  ///< [G, G] forged fraction per patch (zeros without a mask)
  bool has_mask = false;
  int label = 0;
};

struct Batch {
  torch::Tensor images;        ///< [B, 3, S, S]
  torch::Tensor labels;        ///< [B] float 0/1
  torch::Tensor patch_scores;  ///< [B, G, G]
  torch::Tensor has_mask;      ///< [B] bool
  std::vector<size_t> indices; ///< rows of the manifest
};

/// A set of samples for training or evaluation. Indices [0, manifest().samples.size()) are the
/// stored samples, in manifest order; a source may add more after them (FaceDataset's pseudo-fakes).
class SampleSource {
 public:
  virtual ~SampleSource() = default;
  /// Number of samples, added ones included.
  virtual size_t size() const = 0;
  /// One row per stored sample: label, group, method and path (for reports), mask non-empty
  /// where the sample has one.
  virtual const Manifest& manifest() const = 0;
  /// Side of the images get() returns, and the G of its G x G patch scores.
  virtual int64_t input_size() const = 0;
  virtual int64_t grid() const = 0;
  /// Sample `index`; augmentation (where the source applies it) is seeded by (seed, epoch, index).
  virtual Example get(size_t index, uint64_t epoch) const = 0;
  /// A training epoch's order of the sample indices.
  virtual std::vector<size_t> training_order(uint64_t epoch) const = 0;
  /// get() of each index, stacked.
  Batch collate(const std::vector<size_t>& indices, uint64_t epoch) const;
};

/// splitmix64-style combination of two numbers: the seeds of an epoch and of a sample.
uint64_t seed_mix(uint64_t a, uint64_t b);

/// The order of an epoch: a permutation of [0, n) seeded by (seed, epoch), or 0..n-1 if !shuffle.
std::vector<size_t> epoch_order(size_t n, uint64_t seed, uint64_t epoch, bool shuffle);

/// Produces the batches of `order` (in order) on `workers` threads, `prefetch` batches ahead.
/// Batch k holds order[k*B .. (k+1)*B). Errors on a worker are rethrown by next().
class BatchLoader {
 public:
  BatchLoader(const SampleSource& dataset, std::vector<size_t> order, int64_t batch_size, uint64_t epoch,
              int workers = 2, int prefetch = 4, size_t first_batch = 0, bool drop_last = false);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  /// The next batch, or nullopt at the end.
  std::optional<Batch> next();
  size_t num_batches() const { return num_batches_; }

 private:
  void work();

  const SampleSource& dataset_;
  std::vector<size_t> order_;
  int64_t batch_size_;
  uint64_t epoch_;
  int prefetch_;
  size_t num_batches_;
  size_t next_claim_;    // next batch a worker takes
  size_t next_deliver_;  // next batch next() returns
  std::map<size_t, Batch> ready_;
  std::exception_ptr error_;
  bool stop_ = false;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::thread> threads_;
};

}  // namespace sola::data
