// Model files: CRC trailer, corruption and truncation refused with the path, float16 files,
// the previous checkpoint kept on replacement.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "model/checkpoint.h"
#include "test_util.h"

namespace sola {
namespace {
namespace fs = std::filesystem;

Detector small_model() {
  torch::manual_seed(3);
  auto model = build_model(ModelOptions{}.input_size(64).grid(8));
  model->train();
  model->forward(torch::rand({2, 3, 64, 64}));  // non-trivial BN statistics
  model->eval();
  return model;
}

void flip_byte(const std::string& path, size_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

TEST(Checkpoint, CorruptedByteAnywhereIsRefusedNamingTheFile) {
  test::TempDir dir;
  auto model = small_model();
  const std::string good = dir.file("good.pt");
  save_model(good, *model);
  EXPECT_NO_THROW(verify_model_file(good));
  const auto size = fs::file_size(good);
  // In the middle of the weights (zip stores tensors uncompressed: without the CRC this would load).
  for (size_t offset : {size / 2, size / 3, size - 30}) {
    const std::string bad = dir.file("bad" + std::to_string(offset) + ".pt");
    fs::copy_file(good, bad);
    flip_byte(bad, offset);
    const std::string msg = test::error_message<IoError>([&] { load_model(bad); });
    EXPECT_NE(msg.find(bad), std::string::npos) << msg;
    EXPECT_TRUE(msg.find("corrupted") != std::string::npos || msg.find("truncated") != std::string::npos) << msg;
    EXPECT_THROW(verify_model_file(bad), IoError);
  }
}

TEST(Checkpoint, TruncatedAtAnyLengthIsRefused) {
  test::TempDir dir;
  auto model = small_model();
  const std::string good = dir.file("good.pt");
  save_model(good, *model);
  const auto size = fs::file_size(good);
  for (uintmax_t keep : {uintmax_t{0}, uintmax_t{10}, size / 2, size - 24, size - 1}) {
    const std::string cut = dir.file("cut" + std::to_string(keep) + ".pt");
    fs::copy_file(good, cut);
    fs::resize_file(cut, keep);
    const std::string msg = test::error_message<IoError>([&] { load_model(cut); });
    EXPECT_NE(msg.find(cut), std::string::npos) << msg;
  }
}

TEST(Checkpoint, HalfPrecisionFileIsSmallerAndLoadsAsFloat) {
  test::TempDir dir;
  auto model = small_model();
  // Also a trained model file: Adam leaves some parameters non-contiguous after a step.
  {
    auto other = build_model(ModelOptions{}.input_size(64).grid(8).classifier_input("logits"));
    torch::optim::Adam adam(other->parameters());
    other->train();
    other->forward(torch::rand({2, 3, 64, 64})).logit.sum().backward();
    adam.step();
    save_model(dir.file("trained_half.pt"), *other, {}, &adam, SaveOptions{true});
    auto back = load_model(dir.file("trained_half.pt")).model;
    auto p = back->named_parameters();
    for (const auto& item : other->named_parameters())
      EXPECT_TRUE(torch::equal(item.value().to(torch::kHalf).to(torch::kFloat), p[item.key()])) << item.key();
  }
  const std::string full = dir.file("full.pt"), half = dir.file("half.pt");
  save_model(full, *model);
  save_model(half, *model, {}, nullptr, SaveOptions{/*half=*/true});
  EXPECT_LT(fs::file_size(half), fs::file_size(full) * 6 / 10);
  // The model itself is unchanged by saving in half precision.
  for (const auto& p : model->parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat);
  auto loaded = load_model(half).model;
  loaded->eval();
  for (const auto& p : loaded->parameters()) ASSERT_EQ(p.scalar_type(), torch::kFloat);
  auto a = model->named_parameters(), b = loaded->named_parameters();
  for (const auto& item : a) {
    const auto& x = item.value();
    const auto& y = b[item.key()];
    EXPECT_TRUE(torch::allclose(x, y, 1e-3, 1e-3)) << item.key();
    EXPECT_TRUE(torch::equal(x.to(torch::kHalf).to(torch::kFloat), y)) << item.key();
  }
  torch::NoGradGuard no_grad;
  auto x = torch::rand({2, 3, 64, 64});
  EXPECT_LT((torch::sigmoid(model->forward(x).logit) - torch::sigmoid(loaded->forward(x).logit)).abs().max().item<double>(), 5e-3);
}

TEST(Checkpoint, BuffersKeepTheirDtypeAndValueThroughHalfAndFullFiles) {
  // A model loaded from a float16 file, trained on and saved in float32 (how a run continues from
  // a compact state), must load again: BatchNorm's step count stays int64 with its value. (It used
  // to come back as a float holding the first two bytes of the count, and the float32 file's 4-byte
  // count was then read as an 8-byte integer.)
  test::TempDir dir;
  auto model = small_model();
  const auto fresh = build_model(ModelOptions{}.input_size(64).grid(8));
  auto expect_buffers = [&](Detector& m, const std::string& when) {
    auto want = fresh->named_buffers();
    size_t counts = 0;
    for (const auto& b : m->named_buffers()) {
      ASSERT_EQ(b.value().scalar_type(), want[b.key()].scalar_type()) << b.key() << " " << when;
      if (b.value().scalar_type() == torch::kLong) {
        EXPECT_EQ(b.value().item<int64_t>(), 1) << b.key() << " " << when;  // one training forward
        ++counts;
      }
    }
    EXPECT_GT(counts, 10u) << when;
  };
  expect_buffers(model, "before saving");
  save_model(dir.file("half.pt"), *model, {}, nullptr, SaveOptions{/*half=*/true});
  auto from_half = load_model(dir.file("half.pt")).model;
  expect_buffers(from_half, "from the float16 file");
  save_model(dir.file("full.pt"), *from_half);
  auto from_full = load_model(dir.file("full.pt")).model;
  expect_buffers(from_full, "from the float32 file saved after it");
}

TEST(Checkpoint, FilesWithAFloatStepCountStillLoad) {
  // Files written before the fix above hold BatchNorm's step count as a float: taken as the count.
  test::TempDir dir;
  auto model = small_model();
  {
    torch::NoGradGuard no_grad;
    for (auto& b : model->named_buffers())
      if (b.key().find("num_batches_tracked") != std::string::npos) b.value().set_data(torch::full({}, 5.0));
  }
  save_model(dir.file("legacy.pt"), *model);
  auto loaded = load_model(dir.file("legacy.pt")).model;
  size_t counts = 0;
  for (const auto& b : loaded->named_buffers())
    if (b.key().find("num_batches_tracked") != std::string::npos) {
      EXPECT_EQ(b.value().scalar_type(), torch::kLong) << b.key();
      EXPECT_EQ(b.value().item<int64_t>(), 5) << b.key();
      ++counts;
    }
  EXPECT_GT(counts, 10u);
}

TEST(Checkpoint, KeepPreviousLeavesTheReplacedFile) {
  test::TempDir dir;
  auto model = small_model();
  const std::string path = dir.file("last.pt");
  EXPECT_EQ(previous_checkpoint_path(path), dir.file("last.prev.pt"));
  save_model(path, *model, {{"n", 1}}, nullptr, SaveOptions{false, true});
  EXPECT_FALSE(fs::exists(previous_checkpoint_path(path)));
  save_model(path, *model, {{"n", 2}}, nullptr, SaveOptions{false, true});
  EXPECT_EQ(load_model(path).metadata.at("n"), 2);
  EXPECT_EQ(load_model(previous_checkpoint_path(path)).metadata.at("n"), 1);
}

TEST(Checkpoint, FailedWriteLeavesThePreviousFileIntact) {
  test::TempDir dir;
  auto model = small_model();
  const std::string path = dir.file("m.pt");
  save_model(path, *model, {{"n", 1}});
  // A write that fails half-way (as on a full disk): the old file must survive untouched.
  EXPECT_THROW(write_atomically(path, [](const std::string& tmp) {
                 std::ofstream(tmp) << "partial";
                 throw IoError(tmp, "No space left on device");
               }),
               IoError);
  EXPECT_EQ(load_model(path).metadata.at("n"), 1);
  for (const auto& entry : fs::directory_iterator(dir.path)) EXPECT_EQ(entry.path().filename(), "m.pt");
}

}  // namespace
}  // namespace sola
