#include "model/flops.h"

#include <cstring>

#include <ATen/record_function.h>
#include <ATen/core/ivalue.h>

namespace sola {
namespace {

thread_local OpCount* g_count = nullptr;

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction&) { return nullptr; }

int64_t prod(c10::IntArrayRef v, size_t from = 0) {
  int64_t p = 1;
  for (size_t i = from; i < v.size(); ++i) p *= v[i];
  return p;
}

void on_end(const at::RecordFunction& fn, at::ObserverContext*) {
  if (!g_count) return;
  const char* name = fn.name();
  auto inputs = fn.inputs();
  int64_t macs = 0;
  auto tensor_at = [&](size_t i) -> at::Tensor {
    return (i < inputs.size() && inputs[i].isTensor()) ? inputs[i].toTensor() : at::Tensor();
  };
  if (std::strcmp(name, "aten::convolution") == 0) {
    const auto& outs = fn.outputs();
    at::Tensor w = tensor_at(1);
    if (!outs.empty() && outs[0].isTensor() && w.defined()) {
      // Each output element: (C_in / groups) * prod(kernel) multiply-accumulates.
      macs = outs[0].toTensor().numel() * prod(w.sizes(), 1);
    }
  } else if (std::strcmp(name, "aten::addmm") == 0 || std::strcmp(name, "aten::mm") == 0) {
    const size_t first = std::strcmp(name, "aten::addmm") == 0 ? 1 : 0;
    at::Tensor a = tensor_at(first), b = tensor_at(first + 1);
    if (a.defined() && b.defined()) macs = a.size(0) * a.size(1) * b.size(1);
  } else if (std::strcmp(name, "aten::bmm") == 0 || std::strcmp(name, "aten::baddbmm") == 0) {
    const size_t first = std::strcmp(name, "aten::baddbmm") == 0 ? 1 : 0;
    at::Tensor a = tensor_at(first), b = tensor_at(first + 1);
    if (a.defined() && b.defined()) macs = a.size(0) * a.size(1) * a.size(2) * b.size(2);
  } else {
    return;
  }
  g_count->macs += macs;
  g_count->macs_by_op[name] += macs;
}

}  // namespace

OpCount count_macs(const std::function<void()>& fn) {
  OpCount count;
  OpCount* previous = g_count;
  g_count = &count;
  auto handle = at::addThreadLocalCallback(
      at::RecordFunctionCallback(&on_start, &on_end).needsInputs(true).needsOutputs(true).scopes(
          {at::RecordScope::FUNCTION}));
  try {
    fn();
  } catch (...) {
    at::removeCallback(handle);
    g_count = previous;
    throw;
  }
  at::removeCallback(handle);
  g_count = previous;
  return count;
}

}  // namespace sola
