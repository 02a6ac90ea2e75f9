#pragma once
// The one place where LibTorch version differences are handled (Debian's 1.13 vs. pip's 2.x).
#include <torch/version.h>

#define SOLA_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

#include <ATen/autocast_mode.h>
#include <c10/core/DeviceType.h>
#include <c10/core/DispatchKeySet.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <c10/core/ScalarType.h>

namespace sola::compat {

/// Enables or disables autocast for `device` (CPU or CUDA) with the given lower precision dtype.
inline void set_autocast(c10::DeviceType device, bool enabled, c10::ScalarType dtype) {
#if SOLA_TORCH_AT_LEAST(2, 4)
  at::autocast::set_autocast_enabled(device, enabled);
  at::autocast::set_autocast_dtype(device, dtype);
#else
  if (device == c10::DeviceType::CPU) {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dtype);
  } else {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dtype);
  }
#endif
  if (!enabled) at::autocast::clear_cache();
}

/// RAII autocast scope.
class AutocastGuard {
 public:
  AutocastGuard(c10::DeviceType device, bool enabled, c10::ScalarType dtype = c10::kBFloat16)
      : device_(device), enabled_(enabled) {
    if (enabled_) set_autocast(device_, true, dtype);
  }
  ~AutocastGuard() {
    if (enabled_) set_autocast(device_, false, c10::kBFloat16);
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  c10::DeviceType device_;
  bool enabled_;
};

/// RAII scope in which autocast is off (CPU and CUDA), whatever the caller enabled: the parts of
/// the model that must compute in their weights' precision (ASRM's high-pass residuals, the SOLA
/// head) use it, as `torch.autocast(..., enabled=False)` does in Python.
class AutocastDisabled {
 public:
  AutocastDisabled()
      : guard_(c10::DispatchKeySet({c10::DispatchKey::AutocastCPU, c10::DispatchKey::AutocastCUDA})) {}

 private:
  c10::impl::ExcludeDispatchKeyGuard guard_;
};

}  // namespace sola::compat
