// sola_train_packed: trains on packed bundles (sola pack) with the C++ trainer, in the build
// without OpenCV (the GPU machine's: scripts/gpu_train.sh). Prints one JSON line with the summary.
//
//   sola_train_packed --train pack/train.solapack --val pack/val.solapack --out DIR
//       [--set KEY=VALUE]... [--budget-seconds S] [--batch-sizes 32,64,128] [--probe-steps N]
//       [--export FILE] [--threads N]
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <ATen/Context.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/runtime.h"
#include "train/packed_run.h"

namespace {

constexpr const char* kUsage =
    "usage: sola_train_packed --train BUNDLE [--val BUNDLE] --out DIR [--set KEY=VALUE]... [--budget-seconds S]\n"
    "                         [--batch-sizes B1,B2,...] [--probe-steps N] [--export FILE] [--threads N]\n"
    "  --set             a model or train config key, as sola train takes it (e.g. device=cuda, input_size=256)\n"
    "  --budget-seconds  the whole run's time: batch size and epochs are chosen from probe runs to fit it\n"
    "  --batch-sizes     candidates probed in order (default: the batch_size key); the first with which all\n"
    "                    epochs fit is taken, else the fastest\n"
    "  --export          write best.pt as a float16 model file here\n"
    "  --threads         LibTorch threads (default: all cores on cpu, 1 with device=cuda: the loader's\n"
    "                    workers do the CPU work there)\n";

[[noreturn]] void usage_error(const std::string& what) {
  throw sola::ConfigError(what + "\n" + kUsage);
}

double to_number(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(v >= 0)) usage_error(flag + " '" + text + "': expected a number >= 0");
  return v;
}

int run(int argc, char** argv) {
  sola::PackedRunOptions o;
  int threads = -1;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (i + 1 >= argc) usage_error(flag + ": expected a value after it (or an unknown flag)");
    const std::string value = argv[++i];
    if (flag == "--train") o.train_bundle = value;
    else if (flag == "--val") o.val_bundle = value;
    else if (flag == "--out") o.out_dir = value;
    else if (flag == "--set") sola::set_run_option(o.model, o.train, value);
    else if (flag == "--budget-seconds") o.budget_seconds = to_number(flag, value);
    else if (flag == "--probe-steps") o.probe_steps = static_cast<int64_t>(to_number(flag, value));
    else if (flag == "--export") o.export_path = value;
    else if (flag == "--threads") threads = static_cast<int>(to_number(flag, value));
    else if (flag == "--batch-sizes") {
      size_t start = 0;
      while (start <= value.size()) {
        const size_t comma = value.find(',', start);
        const std::string item = value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        const auto b = static_cast<int64_t>(to_number(flag, item));
        if (b < 1) usage_error(flag + " '" + value + "': batch sizes must be >= 1");
        o.batch_sizes.push_back(b);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    } else {
      usage_error("unknown flag " + flag);
    }
  }
  if (o.train_bundle.empty() || o.out_dir.empty()) usage_error("--train and --out are required");
  if (o.probe_steps < sola::kProbeWarmupSteps + 1)
    usage_error(fmt::format("--probe-steps: at least {}", sola::kProbeWarmupSteps + 1));
  const bool cuda = o.train.device() != "cpu";
  sola::configure_threads(threads >= 0 ? threads : (cuda ? 1 : 0));
  // Fixed shapes all run long: let cuDNN time its algorithms once and keep the fastest.
  if (cuda) at::globalContext().setBenchmarkCuDNN(true);
  fmt::print(stderr, "sola_train_packed: LibTorch {}, device {}, {} threads\n", sola::torch_version(), o.train.device(),
             at::get_num_threads());
  std::cout << sola::run_packed_training(o).dump() << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const sola::ConfigError& e) {
    std::cerr << "sola_train_packed: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "sola_train_packed: " << e.what() << "\n";
    return 1;
  }
}
