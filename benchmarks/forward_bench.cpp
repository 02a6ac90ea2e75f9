// Forward-pass speed of the detectors on CPU, fp32 and bf16 autocast: the inference levers of
// model/fuse.h, the model variants and the machine's convolution and matmul peak (the AUC that
// bf16 costs: auc_bench.cpp). Links sola_core only, so it builds without OpenCV (e.g. for CUDA).
// Medians of repeated runs; every ratio is computed within one run.
//
//   sola_bench_forward [--mode levers|one|variants|peak] [--threads N] [--repeats R] [--json]
//                      [--device cpu|cuda] [--batch 1,32] [--dtype fp32|bf16|both] [--size 256]
//                      [--clock wall|cpu]   (cpu: process CPU time, for --threads 1 on a busy machine)
//
//   levers    (default) every configuration below, interleaved round by round (so a change in
//             machine load hits all alike), for each --batch (1,32) and --dtype (fp32,bf16);
//             speed-up against "eager". Model: --variant (sola-r18) at --size (256), random
//             weights and batch-norm statistics, or --model FILE.
//   one       a single --config at one --batch/--dtype, with the process's peak resident memory
//             (benchmarks/compare_reference.sh runs one process per configuration).
//   variants  sola variants against the vanilla ResNet18 (the README's figures).
//   peak      GFLOP/s of a large convolution (3x3, 256->256, 56x56, batch 32; NCHW and
//             channels-last) and of a 4096^3 matmul, fp32 and bf16: the machine's measured peak.
//
// Configurations (--config): eager (eval + NoGradGuard, NCHW input: the model before this work),
// inference_mode (c10::InferenceMode instead), fold (conv-BN folding only), channels_last
// (channels-last weights only), fold_channels_last (both), prepared (prepare_for_inference with
// its defaults: both plus bf16 weight copies, as detect::Detector does), prepared_nhwc (prepared +
// channels-last input + InferenceMode).
#include <cstdio>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <c10/core/InferenceMode.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "bench_util.h"
#include "core/compat.h"
#include "core/precision.h"
#include "core/runtime.h"
#include "model/checkpoint.h"
#include "model/flops.h"
#include "model/fuse.h"
#include "model/sola_net.h"

namespace {

using sola::bench::median;
using sola::bench::time_ms;
using json = nlohmann::json;

struct Config {
  std::string name;
  bool fold, channels_last, bf16_weights, inference_mode, nhwc_input;
  std::string what;
};

const std::vector<Config>& configs() {
  static const std::vector<Config> all{
      {"eager", false, false, false, false, false, "eval + NoGradGuard, NCHW input (before)"},
      {"inference_mode", false, false, false, true, false, "c10::InferenceMode instead of NoGradGuard"},
      {"fold", true, false, false, false, false, "conv-BN folding only"},
      {"channels_last", false, true, false, false, false, "channels-last weights only"},
      {"fold_channels_last", true, true, false, false, false, "both, without the bf16 weight copies"},
      {"prepared", true, true, true, false, false, "prepare_for_inference (what detect::Detector runs)"},
      {"prepared_nhwc", true, true, true, true, true, "prepared + NHWC input + InferenceMode"},
  };
  return all;
}

const Config& find_config(const std::string& name) {
  for (const auto& c : configs())
    if (c.name == name) return c;
  throw std::invalid_argument("unknown --config " + name);
}

/// Where the benchmarked model comes from: a file, or a variant with random weights.
struct ModelSource {
  std::string file;
  std::string variant = "sola-r18";
  int64_t size = 256;
  torch::Device device = torch::kCPU;

  sola::Detector make() const {
    if (!file.empty()) return sola::load_model(file, device).model;
    torch::manual_seed(0);
    auto model = sola::build_model(sola::variant_options(variant).input_size(size));
    torch::NoGradGuard no_grad;  // non-trivial BN statistics, as in a trained model
    for (const auto& m : model->modules(false)) {
      if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) {
        bn->running_mean.uniform_(-0.1, 0.1);
        bn->running_var.uniform_(0.5, 1.5);
      }
    }
    model->to(device);
    return model;
  }
};

/// The model set up as `c` says.
sola::Detector prepared_model(const ModelSource& source, const Config& c) {
  auto model = source.make();
  model->eval();
  if (c.fold || c.channels_last) sola::prepare_for_inference(*model, {c.fold, c.channels_last, c.bf16_weights});
  return model;
}

torch::Tensor input_for(const Config& c, int64_t batch, int64_t size, const torch::Device& device) {
  torch::manual_seed(1);
  auto x = torch::rand({batch, 3, size, size}).to(device);
  return c.nhwc_input ? x.contiguous(c10::MemoryFormat::ChannelsLast) : x;
}

/// One timed forward pass (ms) as configuration `c` runs it (reading the result back synchronises a GPU).
double forward_ms(sola::DetectorImpl& model, const torch::Tensor& x, const Config& c, bool bf16) {
  return time_ms([&] {
    std::optional<c10::InferenceMode> inference;
    std::optional<torch::NoGradGuard> no_grad;
    if (c.inference_mode) inference.emplace();
    else no_grad.emplace();
    sola::compat::AutocastGuard autocast(x.device().type(), bf16);
    auto out = model.forward(x);
    (void)out.logit.sum().item<float>();
  });
}

double gflops_per_image(sola::DetectorImpl& model, int64_t size) {
  torch::NoGradGuard no_grad;
  auto x = torch::rand({1, 3, size, size}).to(model.parameters().front().device());
  return sola::count_macs([&] { model.forward(x); }).flops() / 1e9;
}

/// The machine every JSON line names: the CPU model and the features that decide the precision
/// (avx2, avx512f, avx512_bf16, amx_bf16), and "dtype_requested" where --dtype was auto.
json& machine() {
  static json m = json::object();
  return m;
}

json with_machine(json line) {
  line.update(machine());
  return line;
}

/// --dtype: fp32, bf16, both, or auto (what `sola detect --precision auto` would choose here).
std::vector<std::string> dtypes_of(const std::string& arg, const torch::Device& device) {
  const sola::DeviceCapabilities caps = sola::device_capabilities(device.str());
  machine() = caps.to_json();
  if (arg == "both") return {"fp32", "bf16"};
  if (arg == "fp32" || arg == "bf16") return {arg};
  if (arg == "auto") {
    const sola::PrecisionChoice choice = sola::resolve_precision("auto", caps);
    machine()["dtype_requested"] = "auto";
    fmt::print(stderr, "--dtype auto: {}\n", choice.describe());
    return {choice.resolved};
  }
  throw std::invalid_argument("--dtype must be fp32, bf16, both or auto, got " + arg);
}

// ---- modes ----------------------------------------------------------------------------------

int run_levers(const ModelSource& source, int64_t size, const std::vector<long long>& batches,
               const std::vector<std::string>& dtypes, int repeats, int warmup, bool as_json) {
  std::vector<sola::Detector> models;
  for (const auto& c : configs()) models.push_back(prepared_model(source, c));
  if (!as_json)
    fmt::print("{:<16} {:<5} {:>5} {:>11} {:>9} {:>10}  {}\n", "config", "dtype", "batch", "median ms", "img/s",
               "vs eager", "what");
  for (long long batch : batches) {
    for (const auto& dtype : dtypes) {
      const bool bf16 = dtype == "bf16";
      std::vector<torch::Tensor> inputs;
      for (const auto& c : configs()) inputs.push_back(input_for(c, batch, size, source.device));
      for (size_t i = 0; i < configs().size(); ++i)
        for (int w = 0; w < warmup; ++w) forward_ms(*models[i], inputs[i], configs()[i], bf16);
      std::vector<std::vector<double>> ms(configs().size());
      for (int r = 0; r < repeats; ++r)
        for (size_t i = 0; i < configs().size(); ++i) ms[i].push_back(forward_ms(*models[i], inputs[i], configs()[i], bf16));
      const double eager = median(ms[0]);
      for (size_t i = 0; i < configs().size(); ++i) {
        const double m = median(ms[i]);
        if (as_json) {
          std::cout << with_machine({{"bench", "levers"}, {"config", configs()[i].name}, {"dtype", dtype}, {"batch", batch},
                                     {"size", size}, {"median_ms", m}, {"img_s", 1000.0 * batch / m},
                                     {"speedup_vs_eager", eager / m}, {"repeats", repeats}})
                           .dump()
                    << std::endl;
        } else {
          fmt::print("{:<16} {:<5} {:>5} {:>11.2f} {:>9.2f} {:>9.2f}x  {}\n", configs()[i].name, dtype, batch, m,
                     1000.0 * batch / m, eager / m, configs()[i].what);
        }
      }
    }
  }
  return 0;
}

int run_one(const ModelSource& source, int64_t size, const Config& c, long long batch, const std::string& dtype,
            int repeats, int warmup, int threads) {
  auto model = prepared_model(source, c);
  const double gflops = gflops_per_image(*model, size);  // folding keeps the convolutions' MACs (BN is not counted)
  const bool bf16 = dtype == "bf16";
  auto x = input_for(c, batch, size, source.device);
  for (int w = 0; w < warmup; ++w) forward_ms(*model, x, c, bf16);
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r) ms.push_back(forward_ms(*model, x, c, bf16));
  const double m = median(ms);
  std::cout << with_machine({{"bench", "infer"},  {"impl", "sola"},      {"config", c.name}, {"device", source.device.str()},
                             {"dtype", dtype},    {"batch", batch},      {"size", size},
                             {"threads", threads}, {"median_ms", m},     {"min_ms", *std::min_element(ms.begin(), ms.end())},
                             {"img_s", 1000.0 * batch / m}, {"gflops_per_img", gflops},
                             {"peak_rss_mib", sola::bench::peak_rss_mib()}, {"repeats", repeats}})
                   .dump()
            << std::endl;
  return 0;
}

int run_variants(int64_t size, long long batch, const std::vector<std::string>& dtypes, int repeats, int warmup,
                 const torch::Device& device) {
  const Config& eager = configs()[0];
  fmt::print("{:<18} {:<5} {:>11} {:>9} {:>10} {:>10}\n", "model", "dtype", "median ms", "img/s", "GMAC/img", "vs r18");
  auto baseline = sola::build_model(sola::ModelOptions{}.arch("resnet").input_size(size));
  baseline->to(device);
  baseline->eval();
  auto x = input_for(eager, batch, size, device);
  for (const auto& dtype : dtypes) {
    const bool bf16 = dtype == "bf16";
    double ref_ms = 0;
    for (const char* variant : {"resnet18", "sola-r18", "sola-r18-nolem", "sola-r18-nonoise"}) {
      auto model = std::string(variant) == "resnet18" ? baseline : sola::build_model(sola::variant_options(variant).input_size(size));
      model->to(device);
      model->eval();
      for (int w = 0; w < warmup; ++w) forward_ms(*model, x, eager, bf16);
      std::vector<double> ms;
      for (int r = 0; r < repeats; ++r) ms.push_back(forward_ms(*model, x, eager, bf16));
      const double m = median(ms);
      if (ref_ms == 0) ref_ms = m;
      fmt::print("{:<18} {:<5} {:>11.2f} {:>9.2f} {:>10.3f} {:>9.2f}x\n", variant, dtype, m, 1000.0 * batch / m,
                 gflops_per_image(*model, size) / 2, m / ref_ms);
    }
  }
  return 0;
}

int run_peak(int repeats, bool as_json, const torch::Device& device) {
  struct Case {
    std::string name;
    double gflop;
    std::function<void()> run;
  };
  torch::manual_seed(2);
  torch::NoGradGuard no_grad;
  const int64_t n = 32, c = 256, hw = 56, mm = 4096;
  auto x = torch::rand({n, c, hw, hw}).to(device);
  auto w = (torch::rand({c, c, 3, 3}) * 0.01).to(device);
  auto x_cl = x.contiguous(c10::MemoryFormat::ChannelsLast);
  auto w_cl = w.contiguous(c10::MemoryFormat::ChannelsLast);
  auto xb = x_cl.to(torch::kBFloat16), wb = w_cl.to(torch::kBFloat16);
  auto a = torch::rand({mm, mm}).to(device), b = torch::rand({mm, mm}).to(device);
  auto ab = a.to(torch::kBFloat16), bb = b.to(torch::kBFloat16);
  const double conv_gflop = 2.0 * n * c * c * 9 * hw * hw / 1e9;
  const double mm_gflop = 2.0 * mm * mm * mm / 1e9;
  const std::vector<Case> cases{
      {"conv3x3_fp32_nchw", conv_gflop, [&] { torch::conv2d(x, w, {}, 1, 1).sum().item<float>(); }},
      {"conv3x3_fp32_nhwc", conv_gflop, [&] { torch::conv2d(x_cl, w_cl, {}, 1, 1).sum().item<float>(); }},
      {"conv3x3_bf16_nhwc", conv_gflop, [&] { torch::conv2d(xb, wb, {}, 1, 1).sum().item<float>(); }},
      {"matmul_fp32", mm_gflop, [&] { torch::mm(a, b).sum().item<float>(); }},
      {"matmul_bf16", mm_gflop, [&] { torch::mm(ab, bb).sum().item<float>(); }},
  };
  if (!as_json) fmt::print("{:<20} {:>9} {:>11} {:>10}\n", "kernel", "GFLOP", "median ms", "GFLOP/s");
  for (const auto& k : cases) {
    k.run();  // warm-up
    std::vector<double> ms;
    for (int r = 0; r < repeats; ++r) ms.push_back(time_ms(k.run));
    const double m = median(ms);
    if (as_json)
      std::cout << with_machine({{"bench", "peak"}, {"kernel", k.name}, {"device", device.str()}, {"gflop", k.gflop},
                                 {"median_ms", m}, {"gflop_s", k.gflop / (m / 1000.0)}})
                       .dump()
                << std::endl;
    else
      fmt::print("{:<20} {:>9.1f} {:>11.1f} {:>10.1f}\n", k.name, k.gflop, m, k.gflop / (m / 1000.0));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return sola::bench::run_main("sola_bench_forward", [&]() -> int {
    sola::bench::Args args(argc, argv);
    const std::string mode = args.get("mode", "levers");
    const int threads = sola::configure_threads(static_cast<int>(args.get_int("threads", 0)));
    const int repeats = static_cast<int>(args.get_int("repeats", 7));
    const int warmup = static_cast<int>(args.get_int("warmup", 2));
    const bool as_json = args.flag("json");
    const std::string clock = args.get("clock", "wall");
    if (clock != "wall" && clock != "cpu") throw std::invalid_argument("--clock must be wall or cpu");
    sola::bench::use_cpu_clock() = clock == "cpu";
    ModelSource source;
    source.file = args.get("model", "");
    source.variant = args.get("variant", "sola-r18");
    source.device = torch::Device(args.get("device", "cpu"));
    const std::string size_arg = args.get("size", "");
    source.size = size_arg.empty() ? (source.file.empty() ? 256 : sola::load_model(source.file).options.input_size())
                                   : std::stoll(size_arg);
    const auto batches = args.get_list("batch", mode == "levers" ? "1,32" : "1");
    const auto dtypes = dtypes_of(args.get("dtype", mode == "one" ? "fp32" : "both"), source.device);
    const std::string config = args.get("config", "prepared");
    args.check();
    if (!as_json)
      fmt::print("torch {}, {} threads, median of {} runs, {}\n", sola::torch_version(), threads, repeats,
                 machine().dump());
    if (mode == "levers") return run_levers(source, source.size, batches, dtypes, repeats, warmup, as_json);
    if (mode == "one") return run_one(source, source.size, find_config(config), batches.at(0), dtypes.at(0), repeats, warmup, threads);
    if (mode == "variants") return run_variants(source.size, batches.at(0), dtypes, repeats, warmup, source.device);
    if (mode == "peak") return run_peak(repeats, as_json, source.device);
    throw std::invalid_argument("unknown --mode " + mode + " (levers, one, variants, peak)");
  });
}
