#pragma once
// Counts multiply-accumulates of a forward pass by observing the ATen ops it runs
// (convolution, addmm, mm, bmm, baddbmm), so any module is counted without being annotated.
// FLOPs are reported as 2 x MACs; element-wise ops, normalisation and pooling are not counted
// (the usual convention of fvcore/thop-style counters, which report MACs).
#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace sola {

struct OpCount {
  int64_t macs = 0;
  std::map<std::string, int64_t> macs_by_op;  ///< "aten::convolution" -> MACs
  int64_t flops() const { return 2 * macs; }
};

/// Runs `fn` on this thread with the counter attached and returns what it counted.
/// LibTorch's intra-op threads do not matter: ops are dispatched from the calling thread.
OpCount count_macs(const std::function<void()>& fn);

}  // namespace sola
