#pragma once
// Which arithmetic a device runs fast: the capability query behind precision=auto (sola train) and
// --precision auto (sola detect, eval, serve), and the choice it leads to.
//
// bf16 autocast pays only where the device computes bfloat16 natively: on CPUs with AVX512-BF16 or
// AMX-BF16 (Intel Cooper Lake, Sapphire Rapids and later; AMD Zen 4 and later) bf16 convolutions run
// about 1.3-2x faster than fp32; without them oneDNN emulates bf16, and a training step is about 16x
// slower than in fp32 (measured on an AMD EPYC Zen 3: 0.8 against 12.7-16.6 images/s). On CUDA, GPUs
// of compute capability 8 and above (Ampere on) compute bf16 natively.
//
// The query is injectable (a CapabilityQuery, or resolve_precision on a DeviceCapabilities made by
// hand), so that tests run both branches on any machine.
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace sola {

/// What the device offers that decides the precision.
struct DeviceCapabilities {
  std::string device = "cpu";  ///< "cpu" or "cuda"
  std::string cpu_model;       ///< /proc/cpuinfo's "model name" ("unknown CPU" when unreadable)
  bool avx2 = false;
  bool avx512f = false;
  bool avx512_bf16 = false;    ///< AVX512-BF16: native bf16 dot products (oneDNN's avx512_core_bf16)
  bool amx_bf16 = false;       ///< AMX-BF16 tiles (Sapphire Rapids and later)
  bool gpu_bf16 = false;       ///< CUDA: compute capability >= 8
  /// bf16 runs natively: AVX512-BF16 or AMX-BF16 on a CPU, compute capability >= 8 on CUDA.
  bool native_bf16() const { return device == "cuda" ? gpu_bf16 : avx512_bf16 || amx_bf16; }
  /// {"cpu": model, "avx2": ..., "avx512f": ..., "avx512_bf16": ..., "amx_bf16": ...} (+ "gpu_bf16" on CUDA)
  nlohmann::json to_json() const;
};

/// The features of the CPU this process runs on (/proc/cpuinfo's flags, else the cpuid
/// instruction); read once.
DeviceCapabilities cpu_capabilities();

/// The capabilities of a train/inference device: "cpu", "cuda" or "cuda:N" (the CPU's features
/// with, on CUDA, whether the GPU computes bf16).
DeviceCapabilities device_capabilities(const std::string& device = "cpu");

/// Parses the text of /proc/cpuinfo (the first processor's "model name" and "flags").
DeviceCapabilities parse_cpuinfo(const std::string& text);

/// A capability query: device ("cpu", "cuda", "cuda:N") -> capabilities. device_capabilities is
/// the real one; tests pass their own.
using CapabilityQuery = std::function<DeviceCapabilities(const std::string& device)>;

/// A precision setting resolved for a device.
struct PrecisionChoice {
  std::string requested;  ///< auto, fp32 or bf16
  std::string resolved;   ///< fp32 or bf16
  std::string reason;     ///< "auto: this CPU has no native bf16", "set", ...
  std::string warning;    ///< non-empty where bf16 runs without native support: what it costs
  DeviceCapabilities capabilities;
  bool bf16() const { return resolved == "bf16"; }
  /// "precision: fp32 (auto: this CPU has no native bf16)"
  std::string describe() const;
  /// {"requested", "resolved", "reason", "device": capabilities} (+ "warning")
  nlohmann::json to_json() const;
};

/// Resolves `requested` (auto, fp32 or bf16) for a device: auto is bf16 where it runs natively, else
/// fp32; an explicit bf16 without native support runs, with a warning saying what it costs. Throws
/// ConfigError naming the value for anything else.
PrecisionChoice resolve_precision(const std::string& requested, const DeviceCapabilities& capabilities);

}  // namespace sola
