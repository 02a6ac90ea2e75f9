#include "data/packed.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>

#include <torch/torch.h>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#include <stb_image.h>

#include "core/error.h"
#include "core/atomic_file.h"
#include "core/parallel.h"

namespace sola::data {
namespace {

using json = nlohmann::json;

constexpr char kMagic[8] = {'S', 'O', 'L', 'A', 'P', 'A', 'C', 'K'};
constexpr size_t kHeaderBytes = 24;
constexpr int64_t kMaxSide = 4096;

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t get_le(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

json index_row(const PackedSample& s) {
  return json::array({s.sample.label, s.sample.group, s.sample.method, s.sample.path, s.image.size(), s.mask.size()});
}

json index_of(int64_t image_size, int64_t mask_size, const std::vector<PackedSample>& samples, const json& info) {
  json rows = json::array();
  for (const auto& s : samples) rows.push_back(index_row(s));
  return {{"image_size", image_size},
          {"mask_size", mask_size},
          {"columns", {"label", "group", "method", "path", "image_bytes", "mask_bytes"}},
          {"samples", std::move(rows)},
          {"info", info}};
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path, "cannot open packed bundle");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw IoError(path, "read error");
  return bytes;
}

/// A sample's place in messages: "sample 12 (real/abc.jpg)".
std::string sample_name(size_t i, const Sample& s) { return "sample " + std::to_string(i + 1) + " (" + s.path + ")"; }

/// Decodes `bytes` into `out` (side x side x channels uint8). Returns the problem, or "".
std::string decode_into(const std::string& bytes, int64_t side, int channels, uint8_t* out, const char* what) {
  int w = 0, h = 0, c = 0;
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int len = static_cast<int>(bytes.size());
  if (!stbi_info_from_memory(data, len, &w, &h, &c))
    return std::string(what) + " is not a JPEG or PNG image (" + stbi_failure_reason() + ")";
  if (w != side || h != side)
    return std::string(what) + " is " + std::to_string(w) + "x" + std::to_string(h) + ", the bundle's size is " +
           std::to_string(side) + "x" + std::to_string(side);
  stbi_uc* pixels = stbi_load_from_memory(data, len, &w, &h, &c, channels);
  if (!pixels) return std::string("cannot decode ") + what + ": " + stbi_failure_reason();
  std::memcpy(out, pixels, static_cast<size_t>(side * side * channels));
  stbi_image_free(pixels);
  return "";
}

/// The SVG/CSS hue-rotate matrix: a rotation of RGB colours about the grey axis by `turns` of a
/// full turn (luminance-preserving; rows are output channels R, G, B).
torch::Tensor hue_rotation(double turns) {
  const double a = 2.0 * M_PI * turns, c = std::cos(a), s = std::sin(a);
  const double m[9] = {0.213 + c * 0.787 - s * 0.213, 0.715 - c * 0.715 - s * 0.715, 0.072 - c * 0.072 + s * 0.928,
                       0.213 - c * 0.213 + s * 0.143, 0.715 + c * 0.285 + s * 0.140, 0.072 - c * 0.072 - s * 0.283,
                       0.213 - c * 0.213 - s * 0.787, 0.715 - c * 0.715 + s * 0.715, 0.072 + c * 0.928 + s * 0.072};
  return torch::tensor(std::vector<double>(m, m + 9), torch::kFloat).view({3, 3});
}

/// Grey level of [3, H, W] RGB in [0, 1]: [1, H, W].
torch::Tensor grey(const torch::Tensor& rgb) { return rgb[0] * kGreyR + rgb[1] * kGreyG + rgb[2] * kGreyB; }

/// Colour jitter of [3, H, W] RGB in [0, 1] with the plan's factors, each step clamped to [0, 1].
torch::Tensor jitter(torch::Tensor x, const AugmentPlan& plan) {
  x = (x * plan.brightness).clamp_(0, 1);
  const double mean_grey = grey(x).mean().item<double>();
  x = (x * plan.contrast + (1.0 - plan.contrast) * mean_grey).clamp_(0, 1);
  x = (x * plan.saturation + grey(x).unsqueeze(0) * (1.0 - plan.saturation)).clamp_(0, 1);
  const auto shape = x.sizes().vec();
  return hue_rotation(plan.hue).matmul(x.reshape({3, -1})).reshape(shape).clamp_(0, 1);
}

/// The [m, n] matrix of OpenCV's INTER_AREA shrink of n pixels to m: output pixel i averages the
/// input span [i n/m, (i + 1) n/m), each input pixel weighted by its overlap with the span.
torch::Tensor area_weights(int64_t n, int64_t m) {
  auto w = torch::zeros({m, n}, torch::kDouble);
  auto acc = w.accessor<double, 2>();
  const double scale = static_cast<double>(n) / static_cast<double>(m);
  for (int64_t i = 0; i < m; ++i) {
    const double lo = i * scale, hi = (i + 1) * scale;
    for (int64_t j = static_cast<int64_t>(lo); j < n && j < hi; ++j)
      acc[i][j] = (std::min<double>(hi, j + 1) - std::max<double>(lo, j)) / scale;
  }
  return w.to(torch::kFloat);
}

/// The blur stage on [3, H, W] RGB: the separable Gaussian of blur_kernel(), borders mirrored without
/// repeating the edge pixel (reflection padding: OpenCV's BORDER_REFLECT_101, as augment() does).
torch::Tensor blur(const torch::Tensor& x, double sigma) {
  namespace F = torch::nn::functional;
  const std::vector<double> taps = blur_kernel(sigma);
  const auto k = static_cast<int64_t>(taps.size()), r = k / 2;
  if (r >= x.size(1) || r >= x.size(2))
    throw ConfigError("blur of sigma " + std::to_string(sigma) + " needs an input larger than " + std::to_string(r) + " pixels");
  const auto t = torch::tensor(taps, torch::kFloat);
  auto y = F::pad(x.unsqueeze(0), F::PadFuncOptions({r, r, r, r}).mode(torch::kReflect));
  y = F::conv2d(y, t.view({1, 1, k, 1}).expand({3, 1, k, 1}), F::Conv2dFuncOptions().groups(3));
  y = F::conv2d(y, t.view({1, 1, 1, k}).expand({3, 1, 1, k}), F::Conv2dFuncOptions().groups(3));
  return y.squeeze(0);
}

}  // namespace

size_t packed_row_bytes(const PackedSample& s) { return index_row(s).dump().size() + 1; }

void write_packed(const std::string& path, int64_t image_size, int64_t mask_size, const std::vector<PackedSample>& samples,
                  const json& info) {
  std::string header(kMagic, sizeof kMagic);
  put_le(header, kPackedVersion, 4);
  put_le(header, 0, 4);
  const std::string index = index_of(image_size, mask_size, samples, info).dump();
  put_le(header, index.size(), 8);
  write_atomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out.is_open()) throw IoError(tmp, std::string("cannot create: ") + std::strerror(errno));
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(index.data(), static_cast<std::streamsize>(index.size()));
    for (const auto& s : samples) {
      out.write(s.image.data(), static_cast<std::streamsize>(s.image.size()));
      out.write(s.mask.data(), static_cast<std::streamsize>(s.mask.size()));
    }
    out.close();
    if (!out) throw IoError(tmp, "write failed (disk full?)");
  });
}

PackedData read_packed(const std::string& path, unsigned threads) {
  const std::string bytes = read_file(path);
  if (bytes.size() < kHeaderBytes)
    throw IoError(path, "truncated: " + std::to_string(bytes.size()) + " bytes, shorter than a packed bundle's header");
  if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    throw IoError(path, "not a sola packed bundle (it does not start with SOLAPACK)");
  const uint64_t version = get_le(bytes.data() + 8, 4);
  if (version != kPackedVersion)
    throw IoError(path, "packed bundle format version " + std::to_string(version) + "; this sola reads version " +
                            std::to_string(kPackedVersion) + " (pack it again with this version's sola pack)");
  const uint64_t index_bytes = get_le(bytes.data() + 16, 8);
  if (index_bytes > bytes.size() - kHeaderBytes)
    throw IoError(path, "truncated: the index is " + std::to_string(index_bytes) + " bytes, the file holds " +
                            std::to_string(bytes.size() - kHeaderBytes) + " after the header");
  PackedData data;
  data.path = path;
  std::vector<std::pair<size_t, size_t>> image_at, mask_at;  // offset, length
  try {
    const json index = json::parse(bytes.begin() + kHeaderBytes, bytes.begin() + kHeaderBytes + index_bytes);
    data.image_size = index.at("image_size").get<int64_t>();
    data.mask_size = index.at("mask_size").get<int64_t>();
    if (data.image_size < 1 || data.image_size > kMaxSide || data.mask_size < 0 || data.mask_size > kMaxSide)
      throw IoError(path, "bad index: image_size " + std::to_string(data.image_size) + ", mask_size " +
                              std::to_string(data.mask_size) + " (expected 1.." + std::to_string(kMaxSide) + ")");
    data.info = index.value("info", json::object());
    size_t offset = kHeaderBytes + index_bytes;
    const auto& rows = index.at("samples");
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows.at(i);
      if (!r.is_array() || r.size() != 6) throw IoError(path, "bad index: sample " + std::to_string(i + 1) + " is not a row of 6 fields");
      Sample s;
      s.label = r[0].get<int>();
      s.group = r[1].get<std::string>();
      s.method = r[2].get<std::string>();
      s.path = r[3].get<std::string>();
      s.source = path;
      s.line = i + 1;
      if (s.label != 0 && s.label != 1) throw IoError(path, "bad index: " + sample_name(i, s) + " has label " + std::to_string(s.label));
      const auto image_len = r[4].get<uint64_t>(), mask_len = r[5].get<uint64_t>();
      if (image_len == 0) throw IoError(path, "bad index: " + sample_name(i, s) + " has no image");
      if (mask_len > 0) {
        if (data.mask_size == 0) throw IoError(path, "bad index: " + sample_name(i, s) + " has a mask, mask_size is 0");
        s.mask = s.path + "#mask";
      }
      image_at.emplace_back(offset, image_len);
      mask_at.emplace_back(offset + image_len, mask_len);
      if (image_len + mask_len > bytes.size() - offset)
        throw IoError(path, "truncated: " + sample_name(i, s) + " ends past the end of the file (" +
                                std::to_string(bytes.size()) + " bytes)");
      offset += image_len + mask_len;
      data.manifest.samples.push_back(std::move(s));
    }
    if (offset != bytes.size())
      throw IoError(path, "the index accounts for " + std::to_string(offset) + " bytes, the file holds " +
                              std::to_string(bytes.size()));
  } catch (const json::exception& e) {
    throw IoError(path, std::string("bad index: ") + e.what());
  }
  data.manifest.sources = {path};

  const size_t n = data.manifest.samples.size();
  const int64_t S = data.image_size, M = std::max<int64_t>(data.mask_size, 1);
  data.images = torch::empty({static_cast<int64_t>(n), S, S, 3}, torch::kUInt8);
  data.masks = torch::zeros({static_cast<int64_t>(n), M, M}, torch::kUInt8);
  uint8_t* images = data.images.data_ptr<uint8_t>();
  uint8_t* masks = data.masks.data_ptr<uint8_t>();
  ParallelOptions parallel;
  parallel.threads = static_cast<int>(threads);
  parallel.item_name = [&](size_t i) { return path + ": " + sample_name(i, data.manifest.samples[i]); };
  // The lowest sample that does not decode is the one reported (parallel_for's contract).
  parallel_for(n, [&](size_t i, size_t) {
    std::string p = decode_into(bytes.substr(image_at[i].first, image_at[i].second), S, 3,
                                images + i * static_cast<size_t>(S * S * 3), "image");
    if (p.empty() && mask_at[i].second > 0)
      p = decode_into(bytes.substr(mask_at[i].first, mask_at[i].second), data.mask_size, 1,
                      masks + i * static_cast<size_t>(M * M), "mask");
    if (!p.empty()) throw IoError(path, sample_name(i, data.manifest.samples[i]) + ": " + p);
  }, parallel);
  return data;
}

PackedDataset::PackedDataset(std::shared_ptr<const PackedData> data, PackedDatasetOptions options)
    : data_(std::move(data)), options_(std::move(options)) {
  if (!data_) throw ConfigError("PackedDataset: no bundle");
  if (options_.grid() < 1 || options_.input_size() % options_.grid() != 0)
    throw ConfigError("input_size " + std::to_string(options_.input_size()) + " is not a multiple of grid " +
                      std::to_string(options_.grid()));
  if (options_.augment()) validate(options_.augment_options());
}

std::vector<size_t> PackedDataset::training_order(uint64_t epoch) const {
  return epoch_order(size(), options_.seed(), epoch, true);
}

Example PackedDataset::get(size_t index, uint64_t epoch) const {
  namespace F = torch::nn::functional;
  if (index >= size()) throw std::out_of_range("PackedDataset index " + std::to_string(index) + " >= " + std::to_string(size()));
  const Sample& s = data_->manifest.samples[index];
  const int64_t out = options_.input_size(), G = options_.grid();
  AugmentPlan plan;
  if (options_.augment()) {  // the seed of FaceDataset's sample: the same plan
    std::mt19937 rng(static_cast<uint32_t>(seed_mix(seed_mix(options_.seed(), epoch), index)));
    plan = plan_augment(static_cast<int>(out), static_cast<int>(out), options_.augment_options(), rng);
  }
  // As the OpenCV pipeline: resize to the input size, cut the plan's rectangle and resize it back,
  // mirror. Area interpolation when shrinking, bilinear otherwise (OpenCV's INTER_AREA, INTER_LINEAR).
  auto resize = [](const torch::Tensor& x, int64_t n) {  // [1, C, h, w] -> [1, C, n, n]
    if (x.size(2) == n && x.size(3) == n) return x;
    const bool shrink = x.size(2) > n && x.size(3) > n;
    auto o = F::InterpolateFuncOptions().size(std::vector<int64_t>{n, n});
    return F::interpolate(x, shrink ? o.mode(torch::kArea) : o.mode(torch::kBilinear).align_corners(false));
  };
  auto geometry = [&](torch::Tensor x) {
    x = resize(x, out);
    if (plan.crop) x = resize(x.narrow(2, plan.crop_y, plan.crop_h).narrow(3, plan.crop_x, plan.crop_w), out);
    return plan.flip ? x.flip({3}) : x;
  };
  Example ex;
  ex.label = s.label;
  auto image = data_->images[static_cast<int64_t>(index)].permute({2, 0, 1}).to(torch::kFloat).div_(255.0).unsqueeze(0);
  image = geometry(image).squeeze(0);
  if (plan.jitter) image = jitter(image, plan);
  if (plan.blur) image = blur(image, plan.blur_sigma);
  if (plan.sharpen) image = (image * (1.0 + plan.sharpen_amount) - blur(image, plan.sharpen_sigma) * plan.sharpen_amount).clamp_(0, 1);
  if (plan.downscale) {  // area down (OpenCV's INTER_AREA weights), bilinear back (INTER_LINEAR)
    const int64_t h = downscaled_side(static_cast<int>(out), plan.downscale_factor);
    if (h != out) {
      const auto a = area_weights(out, h);  // [h, out]
      auto small = torch::matmul(torch::matmul(a, image), a.t());  // [3, h, h]
      image = resize(small.unsqueeze(0), out).squeeze(0).clamp_(0, 1);
    }
  }
  if (plan.noise) {  // the OpenCV pipeline's field: element (y * W + x) * 3 + c, c in R, G, B order
    auto field = noise_field(plan.noise_seed, static_cast<size_t>(out * out * 3));
    auto noise = torch::from_blob(field.data(), {out, out, 3}, torch::kFloat).permute({2, 0, 1});
    image = (image + noise * (plan.noise_std / 255.0)).clamp_(0, 1);
  }
  ex.image = image.contiguous();
  if (!s.mask.empty() && s.label == 1) {
    auto mask = data_->masks[static_cast<int64_t>(index)].to(torch::kFloat).div_(255.0).view({1, 1, data_->mask_size, data_->mask_size});
    if (plan.crop || plan.flip) mask = geometry(mask);
    ex.patch_scores = F::adaptive_avg_pool2d(mask, F::AdaptiveAvgPool2dFuncOptions({G, G})).view({G, G}).contiguous();
    ex.has_mask = true;
  } else {
    ex.patch_scores = torch::zeros({G, G});
  }
  return ex;
}

}  // namespace sola::data
