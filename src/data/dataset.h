#pragma once
// Face-crop datasets for training and evaluation, and a batch loader that decodes on worker threads.
//
// A sample is read from its manifest row, resized to the model's input, optionally augmented
// (seeded per (seed, epoch, index), so a run and its resumption see the same pixels), scaled to
// [0, 1] RGB; its mask (if any) goes through the same geometry and becomes [G, G] patch scores
// (AVG(m_ij) of Sec. 3.4).
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <torch/types.h>

#include "data/augment.h"
#include "data/manifest.h"
#include "data/self_blend.h"

namespace sola::data {

struct DatasetOptions {
  TORCH_ARG(int64_t, input_size) = 256;
  TORCH_ARG(int64_t, grid) = 16;
  TORCH_ARG(bool, augment) = false;
  TORCH_ARG(AugmentOptions, augment_options) = {};
  TORCH_ARG(uint64_t, seed) = 0;
  /// Adds one self-blended pseudo-fake per real sample (made on the fly, new each epoch, with its
  /// exact mask): indices [n, n + n_real) after the manifest's n samples.
  TORCH_ARG(bool, pseudo_fakes) = false;
  /// Share of the manifest's fake samples that, anew each epoch (seeded by (seed, epoch, index)),
  /// are replaced by a self-blended pseudo-fake of a real sample: the real of the fake's group
  /// where the manifest has one (so the pair is the source face and a blend of it), else a real
  /// drawn at random. The epoch keeps its size and class balance.
  TORCH_ARG(double, pseudo_fake_share) = 0.0;
  TORCH_ARG(SelfBlendOptions, self_blend) = {};
};

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

class FaceDataset {
 public:
  FaceDataset(Manifest manifest, DatasetOptions options);
  /// Manifest samples plus, with pseudo_fakes, one pseudo-fake per real sample.
  size_t size() const { return manifest_.samples.size() + pseudo_of_.size(); }
  const Manifest& manifest() const { return manifest_; }
  const DatasetOptions& options() const { return options_; }
  /// Reads sample `index`; augmentation (if enabled) is seeded by (seed, epoch, index).
  /// Throws IoError naming the file and manifest line.
  Example get(size_t index, uint64_t epoch) const;
  Batch collate(const std::vector<size_t>& indices, uint64_t epoch) const;
  /// A training epoch's order: a seeded permutation of the samples; with pseudo_fakes, every real
  /// sample is followed by its pseudo-fake (so an even batch holds both halves of each pair when
  /// the manifest has only reals).
  std::vector<size_t> training_order(uint64_t epoch) const;

 private:
  Manifest manifest_;
  DatasetOptions options_;
  std::vector<size_t> pseudo_of_;     // pseudo-fake k is made from manifest sample pseudo_of_[k]
  std::vector<size_t> pseudo_index_;  // manifest index -> index of its pseudo-fake (SIZE_MAX: none)
  std::vector<size_t> reals_;         // manifest indices of the real samples
  std::vector<size_t> group_real_;    // manifest index -> a real of the same group (SIZE_MAX: none)
  /// The real sample whose self-blend replaces sample `index` in `epoch`, or SIZE_MAX to keep it.
  size_t replacement_source(size_t index, uint64_t epoch) const;
  struct FaceGeometry {
    std::vector<cv::Point2f> landmarks;
    cv::Rect2f box;
  };
  FaceGeometry face_geometry(size_t sample, const cv::Mat& image) const;  // cached per sample
  mutable std::mutex geometry_mutex_;
  mutable std::map<size_t, FaceGeometry> geometry_;
};

/// The order of an epoch: a permutation of [0, n) seeded by (seed, epoch), or 0..n-1 if !shuffle.
std::vector<size_t> epoch_order(size_t n, uint64_t seed, uint64_t epoch, bool shuffle);

/// Produces the batches of `order` (in order) on `workers` threads, `prefetch` batches ahead.
/// Batch k holds order[k*B .. (k+1)*B). Errors on a worker are rethrown by next().
class BatchLoader {
 public:
  BatchLoader(const FaceDataset& dataset, std::vector<size_t> order, int64_t batch_size, uint64_t epoch,
              int workers = 2, int prefetch = 4, size_t first_batch = 0, bool drop_last = false);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  /// The next batch, or nullopt at the end.
  std::optional<Batch> next();
  size_t num_batches() const { return num_batches_; }

 private:
  void work();

  const FaceDataset& dataset_;
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
