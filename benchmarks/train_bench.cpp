// Training speed of sola on CPU: one optimizer step as sola::Trainer takes it (train mode, forward,
// the supervised loss of Eq. 9-11 (a ResNet variant: the classifier BCE), backward, Adam, the ASRM projection) on a fixed random batch,
// median of --repeats steps after --warmup steps. The same step in PyTorch is
// `reference/bench.py train` (benchmarks/compare_reference.sh runs both).
//
//   sola_bench_train [--batch 32] [--size 256] [--grid G] [--variant sola-r18] [--threads N] [--repeats 5]
//                    [--warmup 2] [--channels-last] [--dtype fp32|bf16|auto] [--device cpu|cuda] [--json]
//                    [--profile TRACE.json] [--clock wall|cpu]
//
// --channels-last stores the convolution weights and the input channels-last; --dtype bf16 runs the
// forward pass under bf16 autocast (fp32 master weights; ASRM, SOLA head and losses in fp32);
// --dtype auto chooses as `sola train`'s precision=auto does (bf16 where the CPU has AVX512-BF16 or
// AMX-BF16, else fp32). `sola train`'s default step is `--channels-last --dtype auto`. Every line
// names the CPU model and the features that decide (avx2, avx512f, avx512_bf16, amx_bf16). --profile records one more step after the timed ones with LibTorch's
// autograd profiler and writes its trace (chrome://tracing format; benchmarks/profile_ops.py sums it
// per operator). --clock cpu times the process's CPU time instead of the wall clock: with --threads 1,
// a figure that other work on a busy machine disturbs much less.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include "bench_util.h"
#include "core/compat.h"
#include "core/precision.h"
#include "core/runtime.h"
#include "loss/anomaly_loss.h"
#include "model/sola_net.h"

namespace {

struct RandomBatch {
  torch::Tensor images, labels, scores, has_mask;
};

/// Random images; every second one a fake with a random rectangular mask (a third of the side),
/// given to the loss as [B, G, G] patch scores.
RandomBatch random_batch(int64_t batch, int64_t size, int64_t grid) {
  torch::manual_seed(3);
  RandomBatch b;
  b.images = torch::rand({batch, 3, size, size});
  b.labels = (torch::arange(batch) % 2).to(torch::kFloat);
  auto masks = torch::zeros({batch, size, size});
  for (int64_t i = 0; i < batch; ++i) {
    if (i % 2 == 0) continue;
    const auto corner = torch::randint(0, size / 2, {2}, torch::kLong);
    const int64_t y0 = corner[0].item<int64_t>(), x0 = corner[1].item<int64_t>();
    masks[i].narrow(0, y0, size / 3).narrow(1, x0, size / 3).fill_(1);
  }
  b.scores = sola::patch_scores(masks, grid);
  b.has_mask = b.labels > 0.5;
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  return sola::bench::run_main("sola_bench_train", [&]() -> int {
    sola::bench::Args args(argc, argv);
    const int64_t batch = args.get_int("batch", 32);
    const int64_t size = args.get_int("size", 256);
    const std::string variant = args.get("variant", "sola-r18");
    const int64_t grid = args.get_int("grid", 0);  // 0: the variant's
    const int threads = sola::configure_threads(static_cast<int>(args.get_int("threads", 0)));
    const int repeats = static_cast<int>(args.get_int("repeats", 5));
    const int warmup = static_cast<int>(args.get_int("warmup", 2));
    const bool channels_last = args.flag("channels-last");
    const bool as_json = args.flag("json");
    const std::string requested = args.get("dtype", "fp32");
    if (requested != "fp32" && requested != "bf16" && requested != "auto")
      throw std::invalid_argument("--dtype must be fp32, bf16 or auto, got '" + requested + "'");
    const torch::Device device(args.get("device", "cpu"));
    // auto: what `sola train` (precision=auto) chooses on this device.
    const sola::PrecisionChoice precision = sola::resolve_precision(requested, sola::device_capabilities(device.str()));
    const std::string dtype = precision.resolved;
    const bool bf16 = precision.bf16();
    const std::string profile = args.get("profile", "");
    const std::string clock = args.get("clock", "wall");
    if (clock != "wall" && clock != "cpu") throw std::invalid_argument("--clock must be wall or cpu, got '" + clock + "'");
    sola::bench::use_cpu_clock() = clock == "cpu";
    args.check();

    torch::manual_seed(0);
    auto model_options = sola::variant_options(variant).input_size(size);
    if (grid > 0) model_options.grid(grid);
    auto model = sola::build_model(model_options);
    model->to(device);
    model->train();
    auto data = random_batch(batch, size, model->options().grid());
    for (auto* t : {&data.images, &data.labels, &data.scores, &data.has_mask}) *t = t->to(device);
    if (channels_last) {
      torch::NoGradGuard no_grad;
      for (auto& p : model->parameters())
        if (p.dim() == 4) p.set_data(p.contiguous(c10::MemoryFormat::ChannelsLast));
      data.images = data.images.contiguous(c10::MemoryFormat::ChannelsLast);
    }
    torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e-3));
    // The supervised loss for SOLA (masks of the fakes), the classifier BCE for a plain ResNet.
    const auto loss_options = sola::LossOptions().mode(model->options().arch() == "sola" ? "supervised" : "classifier");
    auto step = [&] {
      sola::compat::zero_grad(optimizer);
      sola::ModelOutput out;
      {
        sola::compat::AutocastGuard autocast(device.type(), bf16, c10::kBFloat16);
        out = model->forward(data.images);
      }
      out.logit = out.logit.to(torch::kFloat);
      auto terms = sola::compute_loss(out, data.labels, data.scores, data.has_mask, loss_options);
      terms.total.backward();
      optimizer.step();
      model->after_optimizer_step();
      (void)terms.total.item<double>();
    };
    for (int w = 0; w < warmup; ++w) step();
    std::vector<double> ms;
    for (int r = 0; r < repeats; ++r) ms.push_back(sola::bench::time_ms(step));
    const double m = sola::bench::median(ms);
    if (!profile.empty()) {
      torch::autograd::profiler::RecordProfile record(profile);
      step();
    }
    nlohmann::json result{{"bench", "train"},
                                {"impl", "sola"},
                                {"config", channels_last ? "channels_last" : "eager"},
                                {"dtype", dtype},
                                {"device", device.str()},
                                {"batch", batch},
                                {"variant", variant},
                                {"size", size},
                                {"grid", model->options().grid()},
                                {"threads", threads},
                                {"median_ms", m},
                                {"min_ms", *std::min_element(ms.begin(), ms.end())},
                                {"img_s", 1000.0 * batch / m},
                                {"peak_rss_mib", sola::bench::peak_rss_mib()},
                                {"repeats", repeats},
                                {"dtype_requested", requested},
                                {"clock", clock}};
    result.update(precision.capabilities.to_json());  // the CPU model and the features that decide
    if (as_json)
      std::cout << result.dump() << std::endl;
    else
      fmt::print("{} {}x{}, batch {}, {} threads{}, {} ({}): median {:.1f} ms per step ({} steps), {:.2f} img/s, peak RSS "
                 "{:.0f} MiB; {}\n",
                 variant, size, size, batch, threads, channels_last ? ", channels-last" : "", dtype, precision.reason, m,
                 repeats, 1000.0 * batch / m, sola::bench::peak_rss_mib(), precision.capabilities.to_json().dump());
    return 0;
  });
}
