// What bf16 autocast and the inference preparation cost in accuracy: a saved model scores a
// manifest (as `sola eval` does: score_dataset, no augmentation) four ways and prints frame- and
// video-level AUC, the largest change of a score against the first way, and images/s.
//
//   sola_bench_auc --model FILE --data MANIFEST [--batch 32] [--workers 2] [--threads N] [--json]
//
//   eval_fp32      the model as loaded (eval mode, NCHW), fp32: what `sola eval` runs
//   prepared_fp32  after prepare_for_inference (conv-BN folding, channels-last): what `sola detect` runs
//   prepared_bf16  the same under bf16 autocast (`sola detect --bf16`)
//   eval_bf16      the loaded model under bf16 autocast (`sola eval --bf16`)
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "bench_util.h"
#include "core/runtime.h"
#include "data/dataset.h"
#include "data/manifest.h"
#include "eval/evaluate.h"
#include "model/checkpoint.h"
#include "model/fuse.h"

int main(int argc, char** argv) {
  return sola::bench::run_main("sola_bench_auc", [&]() -> int {
    sola::bench::Args args(argc, argv);
    const std::string model_file = args.get("model", "");
    const std::string manifest_file = args.get("data", "");
    const int64_t batch = args.get_int("batch", 32);
    const int workers = static_cast<int>(args.get_int("workers", 2));
    const int threads = sola::configure_threads(static_cast<int>(args.get_int("threads", 0)));
    const bool as_json = args.flag("json");
    args.check();
    if (model_file.empty() || manifest_file.empty()) throw std::invalid_argument("--model and --data are required");

    const auto options = sola::load_model(model_file).options;
    sola::data::FaceDataset dataset(sola::data::read_manifest(manifest_file),
                                    sola::data::DatasetOptions().input_size(options.input_size()).grid(options.grid()));
    struct Run {
      std::string name;
      bool prepare, bf16;
    };
    std::vector<double> reference;
    if (!as_json)
      fmt::print("{} images of {}, {} threads\n{:<16} {:>10} {:>10} {:>14} {:>8}\n", dataset.size(), manifest_file,
                 threads, "run", "frame AUC", "video AUC", "max |dscore|", "img/s");
    for (const Run& run : {Run{"eval_fp32", false, false}, Run{"prepared_fp32", true, false},
                           Run{"prepared_bf16", true, true}, Run{"eval_bf16", false, true}}) {
      auto model = sola::load_model(model_file).model;
      if (run.prepare) sola::prepare_for_inference(*model);
      sola::eval::Scored scored;
      const double ms = sola::bench::time_ms(
          [&] { scored = sola::eval::score_dataset(*model, dataset, batch, workers, {}, run.bf16); });
      const auto report = sola::eval::summarize(scored);
      if (reference.empty()) reference = scored.scores;
      double diff = 0;
      for (size_t i = 0; i < reference.size(); ++i) diff = std::max(diff, std::abs(reference[i] - scored.scores[i]));
      const double img_s = 1000.0 * static_cast<double>(scored.scores.size()) / ms;
      if (as_json)
        std::cout << nlohmann::json{{"bench", "auc"},        {"run", run.name},
                                    {"frame_auc", report.frame.auc}, {"video_auc", report.video.auc},
                                    {"max_score_diff", diff}, {"n", scored.scores.size()},
                                    {"img_s", img_s},         {"threads", threads}}
                         .dump()
                  << std::endl;
      else
        fmt::print("{:<16} {:>10.4f} {:>10.4f} {:>14.2e} {:>8.1f}\n", run.name, report.frame.auc, report.video.auc,
                   diff, img_s);
    }
    return 0;
  });
}
