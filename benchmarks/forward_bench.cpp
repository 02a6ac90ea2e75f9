// Forward-pass latency and throughput of the detectors (CPU, fp32 and bf16 autocast).
// Prints medians of repeated runs and ratios against the vanilla ResNet18 measured in the same
// process. Usage: sola_bench_forward [--threads N] [--repeats R] [--batch B] [--size S]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/compat.h"
#include "core/runtime.h"
#include "model/flops.h"
#include "model/sola_net.h"

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

struct Timing {
  double median_ms, min_ms, macs;
};

Timing time_forward(sola::DetectorImpl& model, int64_t batch, int64_t size, int repeats, bool bf16) {
  model.eval();
  torch::NoGradGuard no_grad;
  auto x = torch::rand({batch, 3, size, size});
  const double macs = sola::count_macs([&] { model.forward(x.narrow(0, 0, 1)); }).macs;
  sola::compat::AutocastGuard autocast(c10::DeviceType::CPU, bf16);
  for (int w = 0; w < 2; ++w) model.forward(x);  // warm-up (oneDNN primitive creation)
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    auto out = model.forward(x);
    out.logit.sum().item<float>();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return {median(ms), *std::min_element(ms.begin(), ms.end()), macs};
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0, repeats = 15;
  int64_t batch = 1, size = 256;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--repeats")) repeats = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--batch")) batch = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--size")) size = std::atoll(argv[i + 1]);
    else { std::fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
  }
  threads = sola::configure_threads(threads);
  std::printf("torch %s, %d threads, batch %lld, %lldx%lld, median of %d runs\n", sola::torch_version().c_str(),
              threads, (long long)batch, (long long)size, (long long)size, repeats);
  std::printf("%-22s %-5s %12s %10s %10s %12s %10s\n", "model", "dtype", "median ms", "min ms", "img/s", "GMAC/img",
              "vs r18");
  auto baseline = sola::build_model(sola::ModelOptions{}.arch("resnet").input_size(size));
  for (bool bf16 : {false, true}) {
    const auto ref = time_forward(*baseline, batch, size, repeats, bf16);
    for (const char* variant : {"resnet18", "sola-r18", "sola-r18-nolem", "sola-r18-nonoise"}) {
      auto opts = sola::variant_options(variant).input_size(size);
      auto model = std::string(variant) == "resnet18" ? baseline : sola::build_model(opts);
      const auto t = std::string(variant) == "resnet18" ? ref : time_forward(*model, batch, size, repeats, bf16);
      std::printf("%-22s %-5s %12.2f %10.2f %10.1f %12.3f %10.2fx\n", variant, bf16 ? "bf16" : "fp32", t.median_ms,
                  t.min_ms, 1000.0 * batch / t.median_ms, t.macs / 1e9, t.median_ms / ref.median_ms);
    }
  }
  return 0;
}
