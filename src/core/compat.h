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

#include <torch/optim/optimizer.h>

#include <variant>

namespace sola::compat {

/// Drops the gradients of the optimizer's parameters (undefined, as LibTorch 2.x's zero_grad() does
/// by default), so that backward writes each gradient afresh: 1.13's zero_grad() fills them with
/// zeros, a pass over every parameter each step, and backward then adds into them. Same values.
inline void zero_grad(torch::optim::Optimizer& optimizer) {
  for (auto& group : optimizer.param_groups())
    for (auto& p : group.params())
      if (p.grad().defined()) p.mutable_grad() = at::Tensor();
}

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

/// Whether autocast to bfloat16 is on for `device` (CPU or CUDA).
inline bool autocast_bf16_enabled(c10::DeviceType device) {
#if SOLA_TORCH_AT_LEAST(2, 4)
  return at::autocast::is_autocast_enabled(device) && at::autocast::get_autocast_dtype(device) == c10::kBFloat16;
#else
  if (device == c10::DeviceType::CPU)
    return at::autocast::is_cpu_enabled() && at::autocast::get_autocast_cpu_dtype() == c10::kBFloat16;
  if (device == c10::DeviceType::CUDA)
    return at::autocast::is_enabled() && at::autocast::get_autocast_gpu_dtype() == c10::kBFloat16;
  return false;
#endif
}

namespace detail {
using namespace std;  // LibTorch 2.x: options hold std::variant
using namespace c10;  // LibTorch 1.13: c10::variant and c10::holds_alternative
template <class T, class V>
bool holds(const V& v) {
  return holds_alternative<T>(v);
}
}  // namespace detail

/// holds_alternative for a LibTorch options variant (c10::variant in 1.13, std::variant in 2.x).
template <class T, class V>
bool holds_alternative(const V& v) {
  return detail::holds<T>(v);
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
