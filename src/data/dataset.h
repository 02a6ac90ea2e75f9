#pragma once
// Face-crop datasets for training and evaluation, read from manifest files with OpenCV (the
// SampleSource of the OpenCV build; data/sample_source.h has the batch loader).
//
// A sample is read from its manifest row, resized to the model's input, optionally augmented
// (seeded per (seed, epoch, index), so a run and its resumption see the same pixels) or degraded on
// purpose (DatasetOptions::perturb, for robustness read-outs), scaled to
// [0, 1] RGB; its mask (if any) goes through the same geometry and becomes [G, G] patch scores
// (AVG(m_ij) of Sec. 3.4).
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <torch/arg.h>
#include <torch/types.h>

#include "data/augment.h"
#include "data/manifest.h"
#include "data/perturb.h"
#include "data/sample_source.h"
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
  /// Pairs every real of a source manifest that holds no fake (e.g. a set of real photographs) with
  /// a self-blended pseudo-fake, as pseudo_fakes does for every real: such a source then teaches the
  /// blending cue instead of "this camera is real". Without effect where pseudo_fakes is on.
  TORCH_ARG(bool, blend_real_only_sources) = false;
  /// The share of every training epoch each source manifest supplies, one weight per manifest of
  /// Manifest::sources in that order (normalised to sum 1), whatever the sizes of the sources: a small
  /// source is repeated, a large one subsampled, anew each epoch. Empty: every sample once an epoch.
  TORCH_ARG(std::vector<double>, source_weights) = {};
  TORCH_ARG(SelfBlendOptions, self_blend) = {};
  /// Fixed degradations applied, in order, to every image at the input size before any augmentation
  /// (robustness read-outs: `sola eval --perturb`); the noise is seeded by (seed, index), not the epoch.
  TORCH_ARG(std::vector<Perturbation>, perturb) = {};
};

class FaceDataset : public SampleSource {
 public:
  FaceDataset(Manifest manifest, DatasetOptions options);
  /// Manifest samples plus, with pseudo_fakes, one pseudo-fake per real sample.
  size_t size() const override { return manifest_.samples.size() + pseudo_of_.size(); }
  const Manifest& manifest() const override { return manifest_; }
  int64_t input_size() const override { return options_.input_size(); }
  int64_t grid() const override { return options_.grid(); }
  const DatasetOptions& options() const { return options_; }
  /// Reads sample `index`; augmentation (if enabled) is seeded by (seed, epoch, index).
  /// Throws IoError naming the file and manifest line.
  Example get(size_t index, uint64_t epoch) const override;
  /// A training epoch's order: a seeded permutation of the samples; with pseudo_fakes, every real
  /// sample is followed by its pseudo-fake (so an even batch holds both halves of each pair when
  /// the manifest has only reals). With source_weights, size() samples drawn source by source in
  /// those shares (pairs kept together), each source's samples in fresh permutations, then shuffled.
  std::vector<size_t> training_order(uint64_t epoch) const override;
  /// What each source manifest holds and supplies: one line per source, for the start of a run.
  struct SourceShare {
    std::string source;
    size_t samples = 0, reals = 0, fakes = 0, pseudo_fakes = 0;
    double weight = 0;         ///< normalised: the share of every epoch it supplies
    double passes = 0;         ///< epochs' worth of its own samples in one epoch (weight x size() / samples)
  };
  std::vector<SourceShare> source_shares() const;

 private:
  Manifest manifest_;
  DatasetOptions options_;
  std::vector<size_t> pseudo_of_;     // pseudo-fake k is made from manifest sample pseudo_of_[k]
  std::vector<size_t> pseudo_index_;  // manifest index -> index of its pseudo-fake (SIZE_MAX: none)
  std::vector<size_t> reals_;         // manifest indices of the real samples
  std::vector<size_t> group_real_;    // manifest index -> a real of the same group (SIZE_MAX: none)
  std::vector<size_t> source_of_;     // manifest index -> index into manifest_.sources
  std::vector<double> weights_;       // per source, normalised (empty: no weighting)
  std::vector<std::vector<size_t>> source_samples_;  // per source, its manifest indices (with weights only)
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

}  // namespace sola::data
