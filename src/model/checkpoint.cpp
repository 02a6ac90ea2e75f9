#include "model/checkpoint.h"

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include "core/error.h"

namespace sola {
namespace fs = std::filesystem;

namespace {
constexpr const char* kFormat = "sola-model-v2";        // zip archive + CRC trailer
constexpr const char* kLegacyFormat = "sola-model-v1";  // zip archive only
constexpr char kTrailerMagic[8] = {'S', 'O', 'L', 'A', 'C', 'R', 'C', '1'};
constexpr size_t kTrailerSize = 24;

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

/// CRC-32 (ISO-HDLC: zlib's, zip's and PNG's), table-driven. Own code rather than zlib's so that
/// the model library builds where no zlib headers are (the GPU machine: scripts/gpu_train.sh).
uint64_t crc32_of(const char* data, size_t size) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  const auto* p = reinterpret_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
  return static_cast<uint64_t>(crc ^ 0xFFFFFFFFu);
}

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t get_u64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

/// The file's bytes, and how many of them are the zip archive. `trailer` tells whether a valid
/// trailer was found; a trailer with a wrong length or CRC throws.
struct FileBytes {
  std::string bytes;
  size_t archive_size = 0;
  bool trailer = false;
};

FileBytes read_model_bytes(const std::string& path) {
  if (!fs::exists(path)) throw IoError(path, "model file not found");
  if (fs::is_directory(path)) throw IoError(path, "is a directory, expected a model file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path, "cannot open model file for reading");
  FileBytes f;
  f.bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) throw IoError(path, "read error");
  if (f.bytes.empty()) throw IoError(path, "empty file (0 bytes): not a sola model file");
  f.archive_size = f.bytes.size();
  if (f.bytes.size() >= kTrailerSize &&
      std::memcmp(f.bytes.data() + f.bytes.size() - kTrailerSize, kTrailerMagic, sizeof kTrailerMagic) == 0) {
    const char* t = f.bytes.data() + f.bytes.size() - kTrailerSize;
    const uint64_t length = get_u64(t + 8), crc = get_u64(t + 16);
    if (length != f.bytes.size() - kTrailerSize)
      throw IoError(path, fmt::format("truncated or corrupted: the trailer records {} bytes of archive, the file holds {}",
                                      length, f.bytes.size() - kTrailerSize));
    const uint64_t actual = crc32_of(f.bytes.data(), length);
    if (actual != crc)
      throw IoError(path, fmt::format("corrupted: CRC-32 of the contents is {:08x}, the file records {:08x}", actual, crc));
    f.archive_size = length;
    f.trailer = true;
  }
  return f;
}

/// Temporarily stores floating-point parameters and buffers as float16 (restored on destruction).
class HalfPrecisionScope {
 public:
  HalfPrecisionScope(torch::nn::Module& model, bool enabled) {
    if (!enabled) return;
    torch::NoGradGuard no_grad;
    for (auto& t : model.parameters()) convert(t);
    for (auto& t : model.buffers()) convert(t);
  }
  ~HalfPrecisionScope() {
    torch::NoGradGuard no_grad;
    for (auto& [t, original] : saved_) t.set_data(original);
  }

 private:
  void convert(torch::Tensor& t) {
    if (!t.is_floating_point() || t.scalar_type() == torch::kHalf) return;
    saved_.emplace_back(t, t.data());
    t.set_data(t.data().to(torch::kHalf));
  }
  std::vector<std::pair<torch::Tensor, torch::Tensor>> saved_;
};
}  // namespace

std::string previous_checkpoint_path(const std::string& path) {
  fs::path p(path);
  return (p.parent_path() / (p.stem().string() + ".prev" + p.extension().string())).string();
}

void verify_model_file(const std::string& path) {
  auto f = read_model_bytes(path);
  if (!f.trailer) {
    // Legacy files have no trailer; anything else without one was cut short.
    torch::serialize::InputArchive archive;
    c10::IValue format;
    try {
      archive.load_from(f.bytes.data(), f.bytes.size());
    } catch (const std::exception& e) {
      throw IoError(path, "not a readable sola model file (truncated or corrupt?): " + first_line(e.what()));
    }
    if (!archive.try_read("format", format) || !format.isString() || format.toStringRef() != kLegacyFormat)
      throw IoError(path, "truncated: the checksum trailer is missing");
  }
}

void save_model(const std::string& path, DetectorImpl& model, const nlohmann::json& metadata,
                torch::optim::Optimizer* optimizer, const SaveOptions& options) {
  torch::serialize::OutputArchive archive;
  archive.write("format", c10::IValue(std::string(kFormat)));
  archive.write("config", c10::IValue(to_json(model.options()).dump()));
  archive.write("metadata", c10::IValue(metadata.dump()));
  archive.write("precision", c10::IValue(std::string(options.half ? "float16" : "float32")));
  // The archive refers to the model's tensors and serializes them in save_to: the float16 view
  // must live until then.
  HalfPrecisionScope half(model, options.half);
  torch::serialize::OutputArchive weights;
  model.save(weights);
  archive.write("model", weights);
  if (optimizer) {
    torch::serialize::OutputArchive state;
    optimizer->save(state);
    archive.write("optimizer", state);
  }
  std::ostringstream buffer(std::ios::binary);
  archive.save_to(buffer);
  std::string bytes = std::move(buffer).str();
  const uint64_t length = bytes.size(), crc = crc32_of(bytes.data(), bytes.size());
  bytes.append(kTrailerMagic, sizeof kTrailerMagic);
  put_u64(bytes, length);
  put_u64(bytes, crc);
  write_atomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) throw IoError(tmp, "write failed (disk full?)");
    out.close();
    if (!out) throw IoError(tmp, "close failed (disk full?)");
    if (options.keep_previous && fs::exists(path)) {
      std::error_code ec;
      fs::rename(path, previous_checkpoint_path(path), ec);
      if (ec) throw IoError(previous_checkpoint_path(path), "cannot keep the previous checkpoint: " + ec.message());
    }
  });
}

namespace {
torch::serialize::InputArchive open_archive(const std::string& path, const torch::Device& device) {
  auto f = read_model_bytes(path);
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(f.bytes.data(), f.archive_size, device);
  } catch (const std::exception& e) {
    throw IoError(path, "not a readable sola model file (truncated or corrupt?): " + first_line(e.what()));
  }
  c10::IValue format;
  if (!archive.try_read("format", format) || !format.isString() ||
      (format.toStringRef() != kFormat && format.toStringRef() != kLegacyFormat))
    throw IoError(path, std::string("not a sola model file (missing format tag '") + kFormat + "')");
  if (format.toStringRef() == kFormat && !f.trailer) throw IoError(path, "truncated: the checksum trailer is missing");
  return archive;
}
}  // namespace

void load_optimizer(const std::string& path, torch::optim::Optimizer& optimizer, const torch::Device& device) {
  auto archive = open_archive(path, device);
  torch::serialize::InputArchive state;
  if (!archive.try_read("optimizer", state)) throw IoError(path, "holds no optimizer state (not a training checkpoint)");
  try {
    optimizer.load(state);
  } catch (const std::exception& e) {
    throw IoError(path, "optimizer state does not match the model: " + first_line(e.what()));
  }
}

namespace {
/// The bytes a tensor's view reaches into its storage: (offset + the last element's index + 1) x
/// element size; nullopt when a stride is negative or the product overflows.
std::optional<uint64_t> bytes_reached(const torch::Tensor& t) {
  if (t.numel() == 0) return 0;
  int64_t last = t.storage_offset();
  if (last < 0) return std::nullopt;
  for (int64_t d = 0; d < t.dim(); ++d) {
    int64_t step = 0;
    if (t.stride(d) < 0 || __builtin_mul_overflow(t.size(d) - 1, t.stride(d), &step) ||
        __builtin_add_overflow(last, step, &last))
      return std::nullopt;
  }
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(last) + 1, static_cast<uint64_t>(t.element_size()), &bytes))
    return std::nullopt;
  return bytes;
}

/// Reads the tensor `name` (qualified: `prefix` + `key`) of `archive` and copies it into `target`,
/// the model's parameter or buffer, after checking what the file claims. LibTorch's own
/// Module::load puts each stored tensor in place (`set_`) with the shape, strides and storage the
/// file gives, unchecked: a wrong shape surfaced only in the forward pass, a tensor claiming more
/// elements than its stored bytes was read out of bounds (a fuzzed file made a float16-to-float32
/// conversion allocate 25 GB), and a stored dtype other than the model's was reinterpreted.
void read_tensor(const std::string& path, torch::serialize::InputArchive& archive, const std::string& prefix,
                 const std::string& key, torch::Tensor& target, bool is_buffer, torch::ScalarType floating) {
  const std::string name = prefix + key;
  torch::Tensor stored;
  if (!archive.try_read(key, stored, is_buffer) || !stored.defined())
    throw IoError(path, fmt::format("weights do not match the stored configuration: '{}' is missing", name));
  if (stored.sizes() != target.sizes())
    throw IoError(path, fmt::format("weights do not match the stored configuration: '{}' has shape [{}], expected [{}]",
                                    name, fmt::join(stored.sizes(), ", "), fmt::join(target.sizes(), ", ")));
  const auto reached = bytes_reached(stored);
  const uint64_t stored_bytes = stored.storage().nbytes();
  if (!reached || *reached > stored_bytes)
    throw IoError(path, fmt::format("corrupted: '{}' (shape [{}], strides [{}], offset {}) reaches beyond its {} stored bytes",
                                    name, fmt::join(stored.sizes(), ", "), fmt::join(stored.strides(), ", "),
                                    stored.storage_offset(), stored_bytes));
  // Floating tensors are stored in the file's precision. An integer buffer (BatchNorm's
  // num_batches_tracked) is stored as such; files written before its dtype was kept hold it as a
  // float, which is taken as the count it is.
  const bool dtype_ok = target.is_floating_point() ? stored.scalar_type() == floating
                                                   : stored.scalar_type() == target.scalar_type() || stored.is_floating_point();
  if (!dtype_ok)
    throw IoError(path, fmt::format("weights do not match the stored configuration: '{}' is stored as {}, expected {}", name,
                                    c10::toString(stored.scalar_type()),
                                    c10::toString(target.is_floating_point() ? floating : target.scalar_type())));
  torch::NoGradGuard no_grad;
  target.copy_(stored);
}

/// Reads `module`'s parameters and buffers from `archive`, in the layout Module::save writes: the
/// module's own tensors by name, each child's in a nested archive under the child's name.
void read_tensors(const std::string& path, torch::nn::Module& module, torch::serialize::InputArchive& archive,
                  const std::string& prefix, torch::ScalarType floating) {
  for (auto& p : module.named_parameters(/*recurse=*/false)) read_tensor(path, archive, prefix, p.key(), p.value(), false, floating);
  for (auto& b : module.named_buffers(/*recurse=*/false))
    if (b.value().defined()) read_tensor(path, archive, prefix, b.key(), b.value(), true, floating);
  for (const auto& child : module.named_children()) {
    torch::serialize::InputArchive nested;
    if (!archive.try_read(child.key(), nested))
      throw IoError(path, fmt::format("weights do not match the stored configuration: no weights for '{}{}'", prefix, child.key()));
    read_tensors(path, *child.value(), nested, prefix + child.key() + ".", floating);
  }
}
}  // namespace

LoadedModel load_model(const std::string& path, const torch::Device& device) {
  // Read on the CPU: the tensors are checked and copied into the model built there, which then
  // moves to `device` once.
  auto archive = open_archive(path, torch::kCPU);
  c10::IValue config, metadata;
  if (!archive.try_read("config", config) || !config.isString())
    throw IoError(path, "model file has no configuration");
  LoadedModel loaded;
  try {
    loaded.options = options_from_json(nlohmann::json::parse(config.toStringRef()), stored_model_base(), path);
    if (archive.try_read("metadata", metadata) && metadata.isString())
      loaded.metadata = nlohmann::json::parse(metadata.toStringRef());
  } catch (const nlohmann::json::exception& e) {
    throw IoError(path, std::string("model configuration is not valid JSON: ") + e.what());
  }
  loaded.model = build_model(loaded.options);
  c10::IValue precision;
  const bool half = archive.try_read("precision", precision) && precision.isString() && precision.toStringRef() == "float16";
  torch::serialize::InputArchive weights;
  if (!archive.try_read("model", weights)) throw IoError(path, "model file has no weights");
  try {
    read_tensors(path, *loaded.model, weights, "", half ? torch::kHalf : torch::kFloat);
  } catch (const IoError&) {
    throw;
  } catch (const std::exception& e) {
    throw IoError(path, "weights do not match the stored configuration: " + first_line(e.what()));
  }
  loaded.model->to(device);
  return loaded;
}

}  // namespace sola
