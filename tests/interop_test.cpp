// PyTorch interop: `sola export` files and the losses against the Python reference
// (reference/sola_ref.py), reading torch.save'd state dicts, torchvision ResNet weights and sola
// models as initialisation.
//
// The parity and torchvision tests run Debian's /usr/bin/python3 (python3-torch); they are skipped
// where it cannot import torch. Each runs Python once.
#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include "core/error.h"
#include "data/image.h"
#include "loss/anomaly_loss.h"
#include "model/checkpoint.h"
#include "model/export.h"
#include "model/pretrained.h"
#include "test_util.h"

namespace sola {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPython = "/usr/bin/python3";
constexpr int kNoTorch = 77;  ///< exit code of the Python scripts when torch is missing

struct CommandResult {
  int code;
  std::string output;  ///< stdout and stderr
};

/// Runs a shell command, capturing its output in a file of `dir`.
CommandResult run(const std::string& cmd, const test::TempDir& dir) {
  const std::string log = dir.file("command.log");
  const int status = std::system((cmd + " >" + log + " 2>&1").c_str());
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text};
}

/// Skips the test when Python or its torch is not there (127: no interpreter).
#define SKIP_WITHOUT_TORCH(r)                    \
  if ((r).code == kNoTorch || (r).code == 127) \
  GTEST_SKIP() << kPython << " cannot import torch: " << (r).output

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// A dict written by Python's torch.save (or torch::pickle_save), read with LibTorch's own reader.
c10::impl::GenericDict load_pickled_dict(const std::string& path) {
  return torch::pickle_load(read_bytes(path)).toGenericDict();
}

torch::Tensor entry(const c10::impl::GenericDict& dict, const std::string& key) {
  EXPECT_TRUE(dict.contains(key)) << "no '" << key << "'";
  return dict.contains(key) ? dict.at(key).toTensor() : torch::Tensor();
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return INFINITY;
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

/// Gives BN statistics, BN affine parameters, LEM lambdas and the ASRM kernels non-trivial values,
/// so every part of the network affects the output.
void randomize(DetectorImpl& model, uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard no_grad;
  for (auto& m : model.modules(/*include_self=*/false)) {
    if (auto* bn = m->as<torch::nn::BatchNorm2d>()) {
      bn->running_mean.normal_(0.0, 0.2);
      bn->running_var.uniform_(0.5, 2.0);
      bn->num_batches_tracked.fill_(7);
      bn->weight.normal_(1.0, 0.2);
      bn->bias.normal_(0.0, 0.2);
    } else if (auto* lem = m->as<LemImpl>()) {
      lem->lambda.uniform_(0.3, 1.0);
    } else if (auto* asrm = m->as<AsrmImpl>()) {
      asrm->weight.add_(torch::randn_like(asrm->weight) * 0.05);
    }
  }
}

/// Two face crops from the shared data (one real, one fake) or, without it, two synthetic
/// non-square images written into `dir`.
std::vector<std::string> test_images(const test::TempDir& dir) {
  const std::string shared = test::shared_data_or_skip();
  std::vector<std::string> images;
  if (!shared.empty()) {
    for (const char* split : {"real", "fake"}) {
      std::vector<std::string> files;
      const fs::path folder = fs::path(shared) / "dfdc/val" / split;
      if (fs::is_directory(folder))
        for (const auto& f : fs::directory_iterator(folder))
          if (f.path().extension() == ".jpg") files.push_back(f.path().string());
      std::sort(files.begin(), files.end());
      if (!files.empty()) images.push_back(files.front());
    }
    if (images.size() == 2) return images;
    images.clear();
  }
  cv::RNG rng(7);
  for (int i = 0; i < 2; ++i) {
    cv::Mat img(90 + 20 * i, 100, CV_8UC3);
    rng.fill(img, cv::RNG::UNIFORM, cv::Scalar::all(0), cv::Scalar::all(256));
    cv::GaussianBlur(img, img, cv::Size(5, 5), 1.2);
    images.push_back(dir.file("synthetic" + std::to_string(i) + ".png"));
    EXPECT_TRUE(cv::imwrite(images.back(), img));
  }
  return images;
}

/// Exports a randomised model built from `opts`, runs reference/parity.py on the same input
/// tensor (and has it decode the same image files), and compares every output.
void expect_reference_parity(const ModelOptions& opts, uint64_t seed) {
  test::TempDir dir;
  Detector model = build_model(opts);
  randomize(*model, seed);
  model->eval();

  const auto images = test_images(dir);
  std::vector<torch::Tensor> decoded;
  for (const auto& path : images) decoded.push_back(load_image(path, opts.input_size()));
  const torch::Tensor input = torch::stack(decoded);

  const std::string exported = dir.file("model.export.pt"), input_file = dir.file("input.pt"),
                    out_file = dir.file("out.pt");
  export_state_dict(exported, *model);
  c10::impl::GenericDict in(c10::StringType::get(), c10::AnyType::get());
  in.insert(std::string("images"), input);
  write_bytes(input_file, torch::pickle_save(in));

  std::string cmd = std::string(kPython) + " " + SOLA_SOURCE_DIR + "/reference/parity.py --export " + exported +
                    " --input " + input_file + " --out " + out_file + " --images";
  for (const auto& path : images) cmd += " " + path;
  const CommandResult r = run(cmd, dir);
  SKIP_WITHOUT_TORCH(r);
  ASSERT_EQ(r.code, 0) << r.output;
  const auto ref = load_pickled_dict(out_file);

  ModelOutput out;
  {
    torch::NoGradGuard no_grad;
    out = model->forward(input);
  }
  std::map<std::string, torch::Tensor> mine{{"logit", out.logit}, {"features", out.features}};
  if (out.has_maps()) {
    mine["first_order"] = out.first_order;
    mine["second_order"] = out.second_order;
    mine["first_order_logits"] = out.first_order_logits;
    mine["second_order_logits"] = out.second_order_logits;
  }
  std::cout << "[ parity   ] " << opts.arch() << "/" << opts.backbone() << " " << opts.input_size() << "px grid "
            << opts.grid() << ", max |C++ - Python|:";
  for (const auto& [name, tensor] : mine) {
    const double diff = max_abs_diff(tensor, entry(ref, name));
    std::cout << " " << name << " " << diff;
    EXPECT_LT(diff, 1e-4) << name << " differs (largest C++ value " << tensor.abs().max().item<double>() << ")";
  }
  std::cout << "\n";
  EXPECT_EQ(ref.contains("first_order"), out.has_maps());

  // Decoding: Python re-implements imread + OpenCV's resize rules; one grey level of rounding is allowed.
  const torch::Tensor python_decoded = entry(ref, "decoded");
  const double decode_diff = max_abs_diff(input, python_decoded);
  const double differing = (input - python_decoded).abs().gt(0.5 / 255).to(torch::kDouble).mean().item<double>();
  std::cout << "[ decoding ] max |load_image - parity.py| " << decode_diff * 255 << " grey levels, "
            << differing * 100 << "% of values differ\n";
  EXPECT_LE(decode_diff, 1.0 / 255 + 1e-6);
  EXPECT_LT(differing, 0.01);
}

// ---- export ---------------------------------------------------------------------------------

TEST(Export, HoldsConfigAndEveryParameterAndBuffer) {
  test::TempDir dir;
  auto opts = ModelOptions{}.input_size(64).grid(8).noise("srm").dcam_fusion("concat");
  Detector model = build_model(opts);
  randomize(*model, 3);
  const std::string file = dir.file("m.export.pt");
  export_state_dict(file, *model);

  const auto top = load_pickled_dict(file);
  EXPECT_EQ(top.at("format").toStringRef(), kExportFormat);
  EXPECT_EQ(nlohmann::json::parse(top.at("config").toStringRef()), to_json(opts));

  std::vector<std::pair<std::string, torch::Tensor>> expected;
  for (const auto& p : model->named_parameters()) expected.emplace_back(p.key(), p.value());
  for (const auto& b : model->named_buffers()) expected.emplace_back(b.key(), b.value());
  const StateDict read = read_state_dict(file);  // finds the "state_dict" entry
  ASSERT_EQ(read.size(), expected.size());
  for (size_t i = 0; i < read.size(); ++i) {
    EXPECT_EQ(read[i].first, expected[i].first);
    EXPECT_TRUE(torch::equal(read[i].second, expected[i].second.detach())) << read[i].first;
  }
  // The fixed SRM kernels are a buffer, BN statistics too; the LEM's lambda is a parameter.
  auto has = [&](const std::string& name) {
    return std::any_of(read.begin(), read.end(), [&](const auto& kv) { return kv.first == name; });
  };
  EXPECT_TRUE(has("asrm.weight"));
  EXPECT_TRUE(has("rgb.layer1.0.bn1.running_var"));
  EXPECT_TRUE(has("rgb.layer2.0.downsample.1.num_batches_tracked"));
  EXPECT_TRUE(has("dcam.0.fuse_bn.running_mean"));
  EXPECT_TRUE(has("lem.0.lambda"));
  EXPECT_TRUE(has("head.delta_v2.weight"));
}

TEST(Export, UnwritablePathIsAnIoErrorNamingIt) {
  test::TempDir dir;
  Detector model = build_model(ModelOptions{}.arch("resnet").input_size(32));
  const std::string file = dir.file("no/such/folder/m.pt");
  const std::string msg = test::error_message<IoError>([&] { export_state_dict(file, *model); });
  EXPECT_NE(msg.find(file), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(dir.file("no")));
}

// ---- parity with the Python reference -------------------------------------------------------

TEST(Reference, MatchesSmallSola) { expect_reference_parity(ModelOptions{}.input_size(64).grid(8), 11); }

TEST(Reference, MatchesDefaultSola) { expect_reference_parity(ModelOptions{}, 12); }

TEST(Reference, MatchesSolaVariants) {
  // Bottleneck blocks, concat fusion, fixed SRM, classifier on logits, no input normalisation,
  // LEM after layer1 and layer2 only.
  expect_reference_parity(ModelOptions{}
                              .backbone("resnet50")
                              .input_size(64)
                              .grid(4)
                              .noise("srm")
                              .dcam_fusion("concat")
                              .dcam_reduction(8)
                              .lem_key_reduction(4)
                              .anomaly_channels(16)
                              .classifier_channels(8)
                              .classifier_kernel(1)
                              .classifier_input("logits")
                              .normalize("none"),
                          13);
}

TEST(Reference, MatchesSolaWithoutNoiseAttentionOrLem) {
  // layer3 is 4x4 at 64 px: pooled up to the 16x16 grid; no stage has patches larger than a pixel.
  expect_reference_parity(ModelOptions{}.input_size(64).grid(16).noise("none").dcam(false).lem(false), 14);
}

TEST(Reference, MatchesResNetBaseline) {
  expect_reference_parity(ModelOptions{}.arch("resnet").input_size(64), 15);
}

// ---- the losses (Sec. 3.4, Eq. 9-12) against sola_ref.compute_loss ---------------------------

const char* const kLossFields[] = {"logit", "first_order", "second_order", "first_order_logits", "second_order_logits"};

/// A loss batch: the model outputs the loss reads (independent leaves), labels, patch scores, has_mask.
struct LossCase {
  std::string name;
  std::map<std::string, torch::Tensor> leaves;  ///< by kLossFields
  torch::Tensor labels, scores, has_mask;
};

LossCase random_loss_case(const std::string& name, std::vector<float> labels, std::vector<bool> has_mask,
                          const torch::Tensor& masks) {
  const int64_t b = static_cast<int64_t>(labels.size()), g = 8, k = 3;
  LossCase c{name, {}, torch::tensor(labels), patch_scores(masks, g), torch::zeros({b}, torch::kBool)};
  for (int64_t i = 0; i < b; ++i) c.has_mask[i] = static_cast<bool>(has_mask[i]);
  c.leaves["logit"] = torch::randn({b}) * 2;
  c.leaves["first_order_logits"] = torch::randn({b, 4, k, g, g}) * 2;
  c.leaves["second_order_logits"] = torch::randn({b, 4, g, g}) * 2;
  c.leaves["first_order"] = torch::rand({b, 4, k, g, g});
  c.leaves["second_order"] = torch::rand({b, 4, g, g});
  return c;
}

TEST(Reference, LossMatchesComputeLoss) {
  test::TempDir dir;
  torch::manual_seed(21);
  // 64 x 64 masks on an 8 x 8 grid: rectangles off the patch borders give fractional patch scores;
  // one mask is soft (0.6, a blend); the real images' and the unmasked fake's columns must be ignored.
  auto masks = torch::zeros({6, 64, 64});
  masks[0].narrow(0, 10, 20).narrow(1, 10, 20).fill_(1);   // real, has_mask: zero targets all the same
  masks[1].narrow(0, 5, 30).narrow(1, 13, 27).fill_(1);
  masks[2].narrow(0, 20, 40).narrow(1, 3, 22).fill_(1);    // fake without a mask: classifier term only
  masks[4].narrow(0, 9, 50).narrow(1, 30, 31).fill_(0.6f);
  masks[5].narrow(0, 33, 31).narrow(1, 0, 64).fill_(1);
  masks[5].narrow(0, 0, 12).narrow(1, 40, 9).fill_(1);
  const std::vector<LossCase> cases = {
      random_loss_case("mixed", {0, 1, 1, 0, 1, 1}, {true, true, false, false, true, true}, masks),
      random_loss_case("fakes_without_masks", {1, 1}, {false, false}, masks.narrow(0, 1, 2)),
      random_loss_case("reals_only", {0, 0, 0}, {true, false, true}, masks.narrow(0, 0, 3))};
  const double alpha = 0.7, beta = 1.3, gamma = 0.4;
  const char* const modes[] = {"supervised", "weak", "classifier"};

  c10::impl::GenericDict in(c10::StringType::get(), c10::AnyType::get());
  std::string names;
  for (const auto& c : cases) {
    names += (names.empty() ? "" : ",") + c.name;
    for (const auto& [field, t] : c.leaves) in.insert(c.name + "/" + field, t);
    in.insert(c.name + "/labels", c.labels);
    in.insert(c.name + "/scores", c.scores);
    in.insert(c.name + "/has_mask", c.has_mask);
  }
  const std::string input_file = dir.file("loss_in.pt"), out_file = dir.file("loss_out.pt");
  write_bytes(input_file, torch::pickle_save(in));
  // Terms and the gradient of the total with respect to every output, per case and mode.
  const std::string script =
      "import sys\n"
      "try:\n"
      "    import torch\n"
      "except ImportError as e:\n"
      "    print(e); sys.exit(77)\n"
      "sys.dont_write_bytecode = True\n"
      "sys.path.insert(0, sys.argv[1])\n"
      "import sola_ref\n"
      "inp, res = torch.load(sys.argv[2]), {}\n"
      "fields = ('logit', 'first_order', 'second_order', 'first_order_logits', 'second_order_logits')\n"
      "for case in sys.argv[4].split(','):\n"
      "    for mode in ('supervised', 'weak', 'classifier'):\n"
      "        leaves = {f: inp[f'{case}/{f}'].clone().requires_grad_(True) for f in fields}\n"
      "        out = sola_ref.Output(features=None, **leaves)\n"
      "        t = sola_ref.compute_loss(out, inp[f'{case}/labels'], inp[f'{case}/scores'], inp[f'{case}/has_mask'],\n"
      "                                  mode, alpha=" + std::to_string(alpha) + ", beta=" + std::to_string(beta) +
      ", gamma=" + std::to_string(gamma) + ")\n"
      "        for name in ('total', 'classifier', 'first', 'second'):\n"
      "            res[f'{case}/{mode}/{name}'] = getattr(t, name).detach().reshape(())\n"
      "        grads = torch.autograd.grad(t.total, [leaves[f] for f in fields], allow_unused=True)\n"
      "        for f, g in zip(fields, grads):\n"
      "            res[f'{case}/{mode}/grad_{f}'] = torch.zeros_like(leaves[f]) if g is None else g\n"
      "torch.save(res, sys.argv[3])\n";
  std::ofstream(dir.file("loss.py")) << script;
  const CommandResult r = run(std::string(kPython) + " " + dir.file("loss.py") + " " + SOLA_SOURCE_DIR +
                                  "/reference " + input_file + " " + out_file + " " + names,
                              dir);
  SKIP_WITHOUT_TORCH(r);
  ASSERT_EQ(r.code, 0) << r.output;
  const auto ref = load_pickled_dict(out_file);

  double worst_term = 0, worst_grad = 0;
  for (const auto& c : cases)
    for (const char* mode : modes) {
      const std::string key = c.name + "/" + mode + "/";
      std::vector<torch::Tensor> leaves;
      for (const char* field : kLossFields) leaves.push_back(c.leaves.at(field).clone().requires_grad_(true));
      ModelOutput out;
      out.logit = leaves[0];
      out.first_order = leaves[1];
      out.second_order = leaves[2];
      out.first_order_logits = leaves[3];
      out.second_order_logits = leaves[4];
      const auto terms = compute_loss(out, c.labels, c.scores, c.has_mask,
                                      LossOptions().mode(mode).alpha(alpha).beta(beta).gamma(gamma));
      const std::pair<const char*, torch::Tensor> named[] = {
          {"total", terms.total}, {"classifier", terms.classifier}, {"first", terms.first}, {"second", terms.second}};
      for (const auto& [name, value] : named) {
        const double diff = max_abs_diff(value.detach().reshape({}), entry(ref, key + name));
        worst_term = std::max(worst_term, diff);
        EXPECT_LT(diff, 1e-5) << key << name << ": C++ " << value.item<double>();
      }
      const auto grads = torch::autograd::grad({terms.total}, leaves, /*grad_outputs=*/{}, /*retain_graph=*/false,
                                               /*create_graph=*/false, /*allow_unused=*/true);
      for (size_t i = 0; i < leaves.size(); ++i) {
        const auto mine = grads[i].defined() ? grads[i] : torch::zeros_like(leaves[i]);
        const double diff = max_abs_diff(mine, entry(ref, key + "grad_" + kLossFields[i]));
        worst_grad = std::max(worst_grad, diff);
        EXPECT_LT(diff, 1e-6) << key << "gradient of " << kLossFields[i];
      }
    }
  // The cases reach every term: the map terms are non-zero where images use them.
  EXPECT_GT(entry(ref, "mixed/supervised/second").item<double>(), 0.1);
  EXPECT_GT(entry(ref, "mixed/weak/first").item<double>(), 0.1);
  EXPECT_EQ(entry(ref, "fakes_without_masks/supervised/first").item<double>(), 0.0);
  std::cout << "[ loss     ] " << std::size(cases) << " batches x " << std::size(modes)
            << " modes, max |C++ - Python|: terms " << worst_term << ", gradients " << worst_grad << "\n";
}

// ---- torchvision weights --------------------------------------------------------------------

TEST(Torchvision, ImportsPublishedStyleStateDicts) {
  test::TempDir dir;
  const std::string r18 = dir.file("resnet18.pth"), some = dir.file("some.pt"), r50 = dir.file("resnet50.pth"),
                    legacy = dir.file("legacy.pth");
  // resnet18 exactly as published files are made (an OrderedDict with _metadata); a plain dict of
  // a few of its tensors to compare with; a resnet50 state dict (all keys and shapes; its values
  // are one zero expanded, to keep the file small); the same resnet18 in the pre-1.6 format.
  const std::string script =
      "import sys\n"
      "try:\n"
      "    import torch, torchvision\n"
      "except ImportError as e:\n"
      "    print(e); sys.exit(77)\n"
      "torch.manual_seed(0)\n"
      "sd = torchvision.models.resnet18(weights=None).state_dict()\n"
      "for k, v in sd.items():\n"
      "    if 'running' in k: v.uniform_(0.5, 1.5)\n"
      "torch.save(sd, sys.argv[1])\n"
      "keep = ['conv1.weight', 'bn1.running_var', 'layer2.0.downsample.0.weight', 'layer3.1.bn2.bias',\n"
      "        'layer3.1.bn2.num_batches_tracked', 'layer4.1.conv2.weight', 'fc.weight']\n"
      "torch.save({'keys': list(sd.keys()), **{k: sd[k] for k in keep}}, sys.argv[2])\n"
      "r50 = torchvision.models.resnet50(weights=None).state_dict()\n"
      "torch.save(type(r50)((k, torch.zeros((), dtype=v.dtype).expand(v.shape)) for k, v in r50.items()), sys.argv[3])\n"
      "torch.save(sd, sys.argv[4], _use_new_zipfile_serialization=False)\n";
  std::ofstream(dir.file("make.py")) << script;
  const CommandResult r = run(std::string(kPython) + " " + dir.file("make.py") + " " + r18 + " " + some + " " + r50 + " " + legacy, dir);
  SKIP_WITHOUT_TORCH(r);
  ASSERT_EQ(r.code, 0) << r.output;

  // read_state_dict: every entry, in order, equal to Python's values.
  const auto python = load_pickled_dict(some);
  const StateDict sd = read_state_dict(r18);
  const auto keys = python.at("keys").toList();
  ASSERT_EQ(sd.size(), keys.size());
  for (size_t i = 0; i < sd.size(); ++i) EXPECT_EQ(sd[i].first, keys.get(i).toStringRef());
  std::map<std::string, torch::Tensor> by_name(sd.begin(), sd.end());
  for (const auto& kv : python) {
    const std::string name = kv.key().toStringRef();
    if (name == "keys") continue;
    EXPECT_TRUE(torch::equal(by_name.at(name), kv.value().toTensor())) << name;
  }
  EXPECT_EQ(by_name.at("layer3.1.bn2.num_batches_tracked").scalar_type(), torch::kLong);

  // Into SOLA: both trunks, conv1..layer3 (90 tensors each); layer4 and fc skipped.
  auto model = std::make_shared<SolaNetImpl>(ModelOptions{}.input_size(64).grid(8));
  const torch::Tensor head_before = model->head->fc->weight.clone();
  const InitReport report = init_from_torchvision(*model, r18);
  EXPECT_EQ(report.loaded, 180);
  EXPECT_EQ(report.skipped.size(), 32u);  // layer4: 30, fc: 2
  EXPECT_NE(std::find(report.skipped.begin(), report.skipped.end(), "fc.weight"), report.skipped.end());
  EXPECT_NE(std::find(report.skipped.begin(), report.skipped.end(), "layer4.1.bn2.running_var"), report.skipped.end());
  for (const auto& trunk : {model->rgb, model->noise}) {
    EXPECT_TRUE(torch::equal(trunk->conv1->weight, by_name.at("conv1.weight")));
    EXPECT_TRUE(torch::equal(trunk->bn1->running_var, by_name.at("bn1.running_var")));
    auto params = trunk->named_parameters();
    EXPECT_TRUE(torch::equal(params["layer2.0.downsample.0.weight"], by_name.at("layer2.0.downsample.0.weight")));
    EXPECT_TRUE(torch::equal(params["layer3.1.bn2.bias"], by_name.at("layer3.1.bn2.bias")));
  }
  EXPECT_TRUE(torch::equal(model->head->fc->weight, head_before));

  // Into the ResNet baseline through an init spec: all four stages; the 1000-class fc does not fit.
  auto resnet = build_model(ModelOptions{}.arch("resnet").input_size(64));
  const InitReport report2 = init_weights(*resnet, "torchvision:" + r18);
  EXPECT_EQ(report2.loaded, 120);
  EXPECT_EQ(report2.skipped, (std::vector<std::string>{"fc.weight", "fc.bias"}));
  EXPECT_TRUE(torch::equal(resnet->named_parameters()["trunk.layer4.1.conv2.weight"], by_name.at("layer4.1.conv2.weight")));

  // A resnet50 state dict is not a resnet18 one: the message names the first bad key and both shapes.
  auto msg = test::error_message<IoError>([&] { init_from_torchvision(*model, r50); });
  EXPECT_NE(msg.find(r50), std::string::npos) << msg;
  EXPECT_NE(msg.find("layer1.0.conv1.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[64, 64, 1, 1]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[64, 64, 3, 3]"), std::string::npos) << msg;
  model->rgb->conv1->weight.data().zero_();
  msg = test::error_message<IoError>([&] { init_from_torchvision(*model, r50); });
  EXPECT_TRUE(model->rgb->conv1->weight.abs().sum().item<double>() == 0) << "a failed init changed the model";
  // ... and the resnet50 file itself reads fine (stride-0 tensors come back expanded).
  const StateDict sd50 = read_state_dict(r50);
  EXPECT_EQ(sd50.size(), 320u);
  EXPECT_EQ(sd50.front().second.sizes(), (std::vector<int64_t>{64, 3, 7, 7}));

  // A truncated file names itself; so does the legacy format, with what to do about it.
  auto bytes = read_bytes(r18);
  bytes.resize(bytes.size() / 2);
  write_bytes(dir.file("truncated.pth"), bytes);
  msg = test::error_message<IoError>([&] { read_state_dict(dir.file("truncated.pth")); });
  EXPECT_NE(msg.find(dir.file("truncated.pth")), std::string::npos) << msg;
  msg = test::error_message<IoError>([&] { init_from_torchvision(*model, dir.file("truncated.pth")); });
  EXPECT_NE(msg.find(dir.file("truncated.pth")), std::string::npos) << msg;
  msg = test::error_message<IoError>([&] { read_state_dict(legacy); });
  EXPECT_NE(msg.find(legacy), std::string::npos) << msg;
  EXPECT_NE(msg.find("legacy"), std::string::npos) << msg;
}

TEST(Torchvision, ForeignFilesAreIoErrors) {
  test::TempDir dir;
  auto model = build_model(ModelOptions{}.arch("resnet").input_size(32));
  auto msg = test::error_message<IoError>([&] { init_from_torchvision(*model, dir.file("missing.pth")); });
  EXPECT_NE(msg.find(dir.file("missing.pth")), std::string::npos) << msg;
  EXPECT_NE(msg.find("not found"), std::string::npos) << msg;

  std::ofstream(dir.file("text.pth")) << "not a state dict";
  msg = test::error_message<IoError>([&] { read_state_dict(dir.file("text.pth")); });
  EXPECT_NE(msg.find(dir.file("text.pth")), std::string::npos) << msg;

  // A sola model file is a LibTorch archive, not a state dict: refused with a reason.
  save_model(dir.file("model.pt"), *model);
  msg = test::error_message<IoError>([&] { read_state_dict(dir.file("model.pt")); });
  EXPECT_NE(msg.find(dir.file("model.pt")), std::string::npos) << msg;

  // A state dict of another network: the first key the ResNet needs is missing.
  c10::Dict<std::string, torch::Tensor> other;
  other.insert("encoder.weight", torch::ones({2, 2}));
  write_bytes(dir.file("other.pt"), torch::pickle_save(other));
  EXPECT_EQ(read_state_dict(dir.file("other.pt")).size(), 1u);
  msg = test::error_message<IoError>([&] { init_from_torchvision(*model, dir.file("other.pt")); });
  EXPECT_NE(msg.find("'conv1.weight'"), std::string::npos) << msg;
}

// ---- init specs -----------------------------------------------------------------------------

TEST(InitWeights, CopiesMatchingTensorsFromASolaModel) {
  test::TempDir dir;
  auto opts = ModelOptions{}.input_size(64).grid(8);
  auto source = build_model(opts);
  randomize(*source, 21);
  save_model(dir.file("source.pt"), *source);

  // Same backbone, another grid and no LEM: every tensor but the LEM's fits.
  auto target = build_model(ModelOptions{}.input_size(64).grid(4).lem(false));
  const InitReport report = init_weights(*target, "sola:" + dir.file("source.pt"));
  EXPECT_EQ(static_cast<size_t>(report.loaded), target->named_parameters().size() + target->named_buffers().size());
  ASSERT_FALSE(report.skipped.empty());
  for (const auto& name : report.skipped) EXPECT_EQ(name.rfind("lem.", 0), 0u) << name;
  auto src = source->named_parameters();
  for (const auto& p : target->named_parameters()) EXPECT_TRUE(torch::equal(p.value(), src[p.key()])) << p.key();
  EXPECT_TRUE(torch::equal(target->named_buffers()["rgb.bn1.running_mean"], source->named_buffers()["rgb.bn1.running_mean"]));

  // Nothing in common (a SOLA model has no "trunk.*" or "fc.*"): an error, not a silent no-op.
  auto resnet = build_model(ModelOptions{}.arch("resnet").input_size(64));
  auto msg = test::error_message<IoError>([&] { init_weights(*resnet, "sola:" + dir.file("source.pt")); });
  EXPECT_NE(msg.find(dir.file("source.pt")), std::string::npos) << msg;
}

TEST(InitWeights, BadSpecsAreConfigErrors) {
  auto model = build_model(ModelOptions{}.arch("resnet").input_size(32));
  auto msg = test::error_message<ConfigError>([&] { init_weights(*model, "imagenet:/x.pth"); });
  EXPECT_NE(msg.find("imagenet:/x.pth"), std::string::npos) << msg;
  EXPECT_NE(msg.find("torchvision:FILE"), std::string::npos) << msg;
  EXPECT_NE(test::error_message<ConfigError>([&] { init_weights(*model, "resnet18.pth"); }), "(no exception)");
  EXPECT_NE(test::error_message<ConfigError>([&] { init_weights(*model, "sola:"); }), "(no exception)");
  msg = test::error_message<IoError>([&] { init_weights(*model, "sola:/nonexistent/m.pt"); });
  EXPECT_NE(msg.find("/nonexistent/m.pt"), std::string::npos) << msg;
}

// ---- the command ----------------------------------------------------------------------------

TEST(ExportCommand, WritesAStateDictFromAModelFile) {
  test::TempDir dir;
  auto model = build_model(ModelOptions{}.input_size(64).grid(8));
  save_model(dir.file("m.pt"), *model);
  const std::string out = dir.file("m.export.pt");
  CommandResult r = run(std::string(SOLA_CLI_PATH) + " export --model " + dir.file("m.pt") + " --out " + out, dir);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(read_state_dict(out).size(), model->named_parameters().size() + model->named_buffers().size());

  r = run(std::string(SOLA_CLI_PATH) + " export --model " + dir.file("missing.pt") + " --out " + out, dir);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find(dir.file("missing.pt")), std::string::npos) << r.output;
}

}  // namespace
}  // namespace sola
