#pragma once
// The detection slots of `sola serve`: max_in_flight detect::Detectors sharing one model. A request
// takes a free slot for its decoding and detection, or is turned away (503): it never waits.
#include <mutex>
#include <optional>
#include <vector>

#include "detect/detect.h"

namespace sola::serve {

/// `slots` slots, each one detect::Detector, all sharing one model (prepared for inference once).
/// A slot's Detector serves every request whatever it asks -- face crops or whole images, with maps
/// or without -- as detect::CallOptions of each call. It holds a handle of the shared model, its
/// options and, from its first whole-image request on, its own face detector. Thread-safe.
class DetectorPool {
 public:
  /// `base`: the server's detection options (threshold, face detector, crop scale, ...); its crops
  /// and maps play no part (each request says), and the face detector options are checked here even
  /// for a server of crops, since a request may send a whole image. Throws ConfigError for bad options.
  DetectorPool(const sola::Detector& model, detect::DetectOptions base, int slots);
  DetectorPool(const DetectorPool&) = delete;
  DetectorPool& operator=(const DetectorPool&) = delete;

  /// A slot, held until destruction (a Lease must not outlive its pool).
  class Lease {
   public:
    Lease(DetectorPool* pool, int slot) : pool_(pool), slot_(slot) {}
    Lease(Lease&& o) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    /// The slot's Detector: this lease's alone while it is held.
    detect::Detector& detector() const;
    int slot() const { return slot_; }

   private:
    DetectorPool* pool_;
    int slot_;
  };

  /// A free slot, or nothing when all are taken.
  std::optional<Lease> try_acquire();
  /// Slots taken now.
  int in_use() const;
  int size() const { return static_cast<int>(slots_.size()); }

 private:
  void release(int slot);

  std::vector<detect::Detector> slots_;  // never resized after construction: leases point into it
  std::vector<int> free_;
  mutable std::mutex mutex_;
};

}  // namespace sola::serve
