#include "serve/detector_pool.h"

#include <algorithm>
#include <utility>

namespace sola::serve {

DetectorPool::DetectorPool(const sola::Detector& model, detect::DetectOptions base, int slots) {
  // Made for whole images without maps, so that the face detector's options are checked now; each
  // request passes its own crops and maps.
  base.crops = false;
  base.maps = false;
  slots_.reserve(static_cast<size_t>(std::max(slots, 0)));
  for (int s = 0; s < slots; ++s) {
    slots_.emplace_back(model, base);
    free_.push_back(slots - 1 - s);
  }
}

DetectorPool::Lease::Lease(Lease&& o) noexcept : pool_(std::exchange(o.pool_, nullptr)), slot_(o.slot_) {}

DetectorPool::Lease::~Lease() {
  if (pool_) pool_->release(slot_);
}

detect::Detector& DetectorPool::Lease::detector() const { return pool_->slots_[static_cast<size_t>(slot_)]; }

std::optional<DetectorPool::Lease> DetectorPool::try_acquire() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (free_.empty()) return std::nullopt;
  const int slot = free_.back();
  free_.pop_back();
  return std::optional<Lease>(std::in_place, this, slot);
}

int DetectorPool::in_use() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(slots_.size() - free_.size());
}

void DetectorPool::release(int slot) {
  std::lock_guard<std::mutex> lock(mutex_);
  free_.push_back(slot);
}

}  // namespace sola::serve
