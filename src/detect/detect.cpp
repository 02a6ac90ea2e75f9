#include "detect/detect.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "core/compat.h"
#include "core/error.h"
#include "data/video.h"
#include "detect/grad_cam.h"
#include "model/fuse.h"
#include "model/sola_head.h"

namespace sola::detect {
namespace fs = std::filesystem;

namespace {

constexpr const char* kModelFile = "sola-dfdc.pt";

/// `image` at size x size by the training rule: INTER_AREA when both sides shrink, else INTER_LINEAR
/// (the rule of load_image and FaceDataset, so a crop file scores as in `sola eval`).
cv::Mat to_input_size(const cv::Mat& image, int size) {
  if (image.rows == size && image.cols == size) return image;
  cv::Mat out;
  const bool shrink = image.rows > size && image.cols > size;
  cv::resize(image, out, cv::Size(size, size), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

/// 8-bit BGR from 8/16-bit gray, BGR or BGRA; an empty Mat for anything else.
cv::Mat to_bgr8(const cv::Mat& image) {
  if (image.empty() || image.dims != 2) return {};
  cv::Mat m = image;
  if (m.depth() == CV_16U) {
    m.convertTo(m, CV_MAKETYPE(CV_8U, m.channels()), 1.0 / 257.0);
  } else if (m.depth() != CV_8U) {
    return {};
  }
  switch (m.channels()) {
    case 3: return m;
    case 1: cv::cvtColor(m, m, cv::COLOR_GRAY2BGR); return m;
    case 4: cv::cvtColor(m, m, cv::COLOR_BGRA2BGR); return m;
    default: return {};
  }
}

/// The crops of faces[begin, end) as [B, 3, S, S] RGB float in [0, 1], converted like load_image.
torch::Tensor to_tensor(const std::vector<FaceResult*>& faces, size_t begin, size_t end, int size) {
  auto batch = torch::empty({static_cast<int64_t>(end - begin), size, size, 3}, torch::kUInt8);
  const size_t stride = static_cast<size_t>(size) * size * 3;
  for (size_t i = begin; i < end; ++i) {
    const cv::Mat& crop = faces[i]->crop;
    cv::Mat dst(size, size, CV_8UC3, batch.data_ptr<uint8_t>() + (i - begin) * stride);
    cv::cvtColor(crop, dst, cv::COLOR_BGR2RGB);  // writes into the tensor (same size and type)
  }
  return batch.permute({0, 3, 1, 2}).to(torch::kFloat).div_(255.0).contiguous();
}

/// A [H, W] float tensor (any device) as a CV_32F Mat that owns its data.
cv::Mat to_mat(const torch::Tensor& t) {
  auto c = t.to(torch::kCPU, torch::kFloat).contiguous();
  return cv::Mat(static_cast<int>(c.size(0)), static_cast<int>(c.size(1)), CV_32F, c.data_ptr<float>()).clone();
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

InputResult failed(InputResult r, const std::string& status, const std::string& error) {
  r.status = status;
  r.error = error;
  r.faces.clear();
  return r;
}

std::string supported_extensions() {
  return "images: .jpg .jpeg .png .bmp .webp .tif .tiff; videos: .mp4 .avi .mov .mkv .webm .m4v .mpg .mpeg .wmv";
}

}  // namespace

double model_crop_scale(const nlohmann::json& metadata) {
  if (metadata.is_object() && metadata.contains("crop_scale") && metadata["crop_scale"].is_number()) {
    const double scale = metadata["crop_scale"].get<double>();
    if (scale >= 1.0 && scale <= 10.0) return scale;
  }
  return 2.6;
}

CropScaleChoice choose_crop_scale(double scale, const nlohmann::json& metadata) {
  CropScaleChoice choice;
  const bool model_has = metadata.is_object() && metadata.contains("crop_scale") && metadata["crop_scale"].is_number();
  if (scale > 0) {
    choice.scale = scale;
    choice.source = "--scale";
  } else if (model_has && model_crop_scale(metadata) == metadata["crop_scale"].get<double>()) {
    choice.scale = model_crop_scale(metadata);
    choice.source = "model";
  } else {
    choice.scale = 2.6;
    choice.source = "fallback";
    choice.warning = model_has ? fmt::format("the model's crop_scale {} lies outside 1-10 and is ignored; ",
                                             metadata["crop_scale"].dump())
                               : "the model file carries no crop_scale (the framing of its training images); ";
    choice.warning +=
        "faces are cropped at the paper's 2.6x of the face box. A model trained on tighter crops calls most faces "
        "fake at this framing: pass --scale (the training crops' face box / crop side, inverted; scripts/crop_scale.sh "
        "measures it) or record it with sola export --format sola --crop-scale";
  }
  return choice;
}

std::string CropScaleChoice::describe() const {
  if (source == "--scale") return fmt::format("crop scale {:.2f} (--scale)", scale);
  if (source == "model") return fmt::format("crop scale {:.2f} (the model's, from its metadata)", scale);
  return fmt::format("crop scale {:.2f} (fallback: the paper's 2.6x; the model carries no crop_scale)", scale);
}

std::string default_model_path() {
  if (const char* env = std::getenv("SOLA_MODEL"); env && *env) return env;
  std::vector<fs::path> dirs;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path dir = exe.parent_path();
    dirs = {dir / "models", dir / ".." / "models", dir / ".." / "share" / "sola" / "models"};
  }
#ifdef SOLA_DEFAULT_MODEL_DIR
  dirs.emplace_back(SOLA_DEFAULT_MODEL_DIR);
#endif
  std::string searched = "$SOLA_MODEL (not set)";
  for (const auto& d : dirs) {
    const fs::path file = (d / kModelFile).lexically_normal();
    if (fs::is_regular_file(file, ec)) return file.string();
    searched += ", " + file.string();
  }
  throw IoError(kModelFile, "no model file given and none found (searched " + searched +
                                "); pass --model FILE or set SOLA_MODEL");
}

// ---- Detector -------------------------------------------------------------------------------

Detector::Detector(sola::Detector model, DetectOptions options) : model_(std::move(model)), options_(std::move(options)) {
  if (!model_) throw ConfigError("detect: no model given");
  const auto& o = options_;
  if (!(o.threshold >= 0 && o.threshold <= 1))
    throw ConfigError("threshold " + std::to_string(o.threshold) + ": must be in [0, 1]");
  if (o.frames < 1) throw ConfigError("frames " + std::to_string(o.frames) + ": must be at least 1");
  if (o.batch_size < 1) throw ConfigError("batch_size " + std::to_string(o.batch_size) + ": must be at least 1");
  if (!(o.crop_scale > 0 && std::isfinite(o.crop_scale)))
    throw ConfigError("crop_scale " + std::to_string(o.crop_scale) + ": must be a positive number");
  if (o.tracking.refresh < 1)
    throw ConfigError("tracking refresh " + std::to_string(o.tracking.refresh) + ": must be at least 1 frame");
  if (!(o.tracking.window >= 1.2f))
    throw ConfigError("tracking window " + std::to_string(o.tracking.window) + ": must be at least 1.2");
  if (!o.crops) {
    const auto methods = data::face_detector_methods();
    if (std::find(methods.begin(), methods.end(), o.detector.method) == methods.end()) {
      std::string known;
      for (const auto& m : methods) known += (known.empty() ? "" : ", ") + m;
      throw ConfigError("detector '" + o.detector.method + "': unknown face detector (known: " + known + ")");
    }
  }
  // Eval mode, conv-BN folding, channels-last weights (model/fuse.h): in place, once per model,
  // so Detectors that share a model (sola serve) prepare it with the first one.
  prepare_for_inference(*model_);
}

int Detector::input_size() const { return static_cast<int>(model_->options().input_size()); }

data::FaceDetector& Detector::face_detector() {
  if (!faces_) faces_ = data::make_face_detector(options_.detector);  // config errors propagate
  return *faces_;
}

std::vector<FaceResult> Detector::faces_in(const cv::Mat& bgr, int64_t frame, bool crops, data::FaceTracker* tracker) {
  const int size = input_size();
  std::vector<FaceResult> out;
  if (crops) {
    FaceResult f;
    f.box = f.crop_region = cv::Rect2f(0, 0, static_cast<float>(bgr.cols), static_cast<float>(bgr.rows));
    f.frame = frame;
    f.crop = to_input_size(bgr, size);
    out.push_back(std::move(f));
    return out;
  }
  // Only the largest face unless all_faces: detect_largest finds it for less (coarse to fine).
  std::vector<data::Face> found = tracker              ? tracker->next(bgr)
                                  : options_.all_faces ? face_detector().detect(bgr)
                                                       : face_detector().detect_largest(bgr);
  for (const auto& face : found) {
    FaceResult f;
    f.box = face.box;
    f.crop_region = data::crop_region(face.box, options_.crop_scale);
    f.frame = frame;
    const bool shrink = f.crop_region.width > size;
    f.crop = data::crop_square(bgr, f.crop_region, size, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
    out.push_back(std::move(f));
  }
  return out;
}

InputResult Detector::prepare_image(const cv::Mat& image, const std::string& name, const CallOptions& call) {
  const bool crops = this->crops(call);
  InputResult r;
  r.path = name;
  r.kind = crops ? "crop" : "image";
  r.threshold = options_.threshold;
  if (image.empty()) return failed(r, "unreadable", IoError(name, "empty image").what());
  const cv::Mat bgr = to_bgr8(image);
  if (bgr.empty())
    return failed(r, "unsupported", IoError(name, "not an 8- or 16-bit image with 1, 3 or 4 channels").what());
  if (crops && std::min(bgr.rows, bgr.cols) < kMinCropSide)
    return failed(r, "unsupported", IoError(name, "crop is " + std::to_string(bgr.cols) + "x" + std::to_string(bgr.rows) +
                                                      ": face crops must be at least " + std::to_string(kMinCropSide) +
                                                      " pixels a side").what());
  if (!crops) face_detector();  // made before the try below: config errors propagate
  r.frames_read = 1;
  r.sampled = {SampledFrame{}};
  const auto t0 = std::chrono::steady_clock::now();
  try {
    r.faces = faces_in(bgr, 0, crops);
    r.timing.face_ms = ms_since(t0);
  } catch (const cv::Exception& e) {
    return failed(r, "unreadable", IoError(name, "cannot process image: " + e.err).what());
  } catch (const IoError&) {
    throw;
  } catch (const Error& e) {  // e.g. a degenerate face box
    return failed(r, "unreadable", IoError(name, std::string("cannot process image: ") + e.what()).what());
  }
  if (r.faces.empty()) {
    r.frames_without_face = 1;
    return failed(r, "no_face", IoError(name, "no face found (detector " + options_.detector.method + ")").what());
  }
  r.status = "ok";
  return r;
}

InputResult Detector::prepare_file(const std::string& path, const Progress& progress, const CallOptions& call) {
  InputResult r;
  r.path = path;
  r.kind = data::is_video_file(path) ? "video" : crops(call) ? "crop" : "image";
  r.threshold = options_.threshold;
  if (const std::string problem = data::input_file_problem(path, "image or video file"); !problem.empty())
    return failed(r, "unreadable", IoError(path, problem).what());  // never opened: a FIFO would block
  if (!data::is_video_file(path) && !data::is_image_file(path))
    return failed(r, "unsupported", IoError(path, "not an image or video file by its extension (" +
                                                      supported_extensions() + ")").what());
  if (r.kind == "video") return prepare_video(std::move(r), progress, crops(call));
  cv::Mat bgr;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    bgr = data::read_image_bgr(path);
  } catch (const IoError& e) {
    return failed(r, "unreadable", e.what());
  }
  const double decode_ms = ms_since(t0);
  InputResult image = prepare_image(bgr, path, call);
  image.kind = r.kind;
  image.timing.decode_ms = decode_ms;
  if (const std::string damage = data::image_file_damage(path); !damage.empty())
    image.warnings.push_back(IoError(path, damage).what());
  return image;
}

InputResult Detector::prepare_video(InputResult r, const Progress& progress, bool crops) {
  const std::string path = r.path;
  std::unique_ptr<data::FaceTracker> tracker;
  if (!crops) tracker = std::make_unique<data::FaceTracker>(face_detector(), options_.tracking, options_.all_faces);
  const auto started = std::chrono::steady_clock::now();
  try {
    int64_t total = options_.frames;
    if (progress) {
      const int64_t reported = data::video_frame_count(path);  // only the header: cheap
      if (reported > 0) total = std::min<int64_t>(total, reported);
    }
    // Frame by frame, so that only the crops stay in memory.
    auto on_frame = [&](data::VideoFrame& frame) {
      const auto t0 = std::chrono::steady_clock::now();
      ++r.frames_read;
      r.sampled.push_back(SampledFrame{frame.index, frame.time_s});
      std::vector<FaceResult> found;
      try {
        found = faces_in(to_bgr8(frame.bgr), frame.index, crops, tracker.get());
      } catch (const cv::Exception&) {
        found.clear();  // an odd frame counts as one without a face
      } catch (const ConfigError&) {
        throw;
      } catch (const IoError&) {
        throw;
      } catch (const Error&) {
        found.clear();
      }
      if (found.empty()) ++r.frames_without_face;
      for (auto& f : found) r.faces.push_back(std::move(f));
      r.timing.face_ms += ms_since(t0);
      if (progress) progress(r.frames_read, std::max(total, r.frames_read));
    };
    if (options_.prefetch) {
      data::for_each_sampled_frame_prefetched(path, options_.frames, on_frame, 4, &r.timing.decode_ms, &r.warnings);
    } else {
      data::for_each_sampled_frame(path, options_.frames, on_frame, &r.warnings);
      r.timing.decode_ms = ms_since(started) - r.timing.face_ms;
    }
  } catch (const IoError& e) {
    return failed(r, "unreadable", e.what());
  }
  // In frame order (frames added after a container over-reported its length may come late).
  std::stable_sort(r.faces.begin(), r.faces.end(),
                   [](const FaceResult& a, const FaceResult& b) { return a.frame < b.frame; });
  std::stable_sort(r.sampled.begin(), r.sampled.end(),
                   [](const SampledFrame& a, const SampledFrame& b) { return a.index < b.index; });
  if (r.faces.empty())
    return failed(r, "no_face",
                  IoError(path, "no face found in any of the " + std::to_string(r.frames_read) + " sampled frames (detector " +
                                    options_.detector.method + ")").what());
  r.status = "ok";
  return r;
}

void Detector::score_faces(const std::vector<FaceResult*>& faces, bool maps) {
  const int size = input_size();
  const auto params = model_->parameters();
  const torch::Device device = params.empty() ? torch::Device(torch::kCPU) : params.front().device();
  const size_t batch = static_cast<size_t>(options_.batch_size);
  for (size_t begin = 0; begin < faces.size(); begin += batch) {
    const size_t end = std::min(faces.size(), begin + batch);
    for (size_t i = begin; i < end; ++i)
      if (faces[i]->crop.rows != size || faces[i]->crop.cols != size || faces[i]->crop.type() != CV_8UC3)
        faces[i]->crop = to_input_size(to_bgr8(faces[i]->crop), size);
    auto images = to_tensor(faces, begin, end, size).to(device);
    torch::Tensor logits, anomaly, cam;
    if (maps) {
      torch::AutoGradMode grad_mode(true);
      images.requires_grad_(true);  // keeps the features in the graph even when the weights are frozen
      ModelOutput out;
      {
        compat::AutocastGuard autocast(device.type(), options_.bf16);
        out = model_->forward(images);
      }
      logits = out.logit.detach().to(torch::kFloat);
      if (out.has_maps()) anomaly = anomaly_map(out.second_order).cpu();
      cam = grad_cam(out.logit, out.features).cpu();
    } else {
      torch::NoGradGuard no_grad;
      compat::AutocastGuard autocast(device.type(), options_.bf16);
      logits = model_->forward(images).logit.to(torch::kFloat);
    }
    // The score as `sola eval` computes it: sigmoid of the float logit, calibrated where the model is.
    const auto& cal = options_.calibration;
    auto probs = torch::sigmoid(cal.identity() ? logits : logits * cal.a + cal.b).cpu().contiguous();
    logits = logits.cpu().contiguous();
    for (size_t i = begin; i < end; ++i) {
      FaceResult& f = *faces[i];
      const auto k = static_cast<int64_t>(i - begin);
      f.logit = logits[k].item<double>();
      f.score = probs[k].item<double>();
      f.fake = f.score >= options_.threshold;
      if (anomaly.defined()) f.anomaly = to_mat(anomaly[k]);
      if (cam.defined()) f.gradcam = to_mat(cam[k]);
    }
  }
}

void Detector::score(std::vector<InputResult>& inputs, const CallOptions& call) {
  const bool maps = this->maps(call);
  // Images get their maps in the one pass; videos are scored without, then the faces of the
  // highest-scoring frame again with maps.
  std::vector<FaceResult*> with_maps, without;
  size_t total_faces = 0;
  for (auto& in : inputs) {
    if (!in.ok()) continue;
    for (auto& f : in.faces) (maps && in.kind != "video" ? with_maps : without).push_back(&f);
    total_faces += in.faces.size();
  }
  const auto t0 = std::chrono::steady_clock::now();
  score_faces(with_maps, true);
  score_faces(without, false);
  std::vector<FaceResult*> best_frames;
  for (auto& in : inputs) {
    if (!in.ok()) continue;
    double best = -1;
    for (const auto& f : in.frame_scores())
      if (f.has_face() && f.score > best) best = f.score;
    in.score_max = std::max(0.0, best);
    // Per frame the highest face score (an image is one frame), then the mean over frames.
    double sum = 0;
    int64_t scored = 0;
    int64_t best_frame = -1;
    for (const auto& f : in.frame_scores()) {
      if (!f.has_face()) continue;
      sum += f.score;
      ++scored;
      if (best_frame < 0 && f.score == best) best_frame = f.frame;
    }
    in.score = scored ? sum / static_cast<double>(scored) : 0.0;
    in.apply_threshold(options_.threshold);
    if (maps && in.kind == "video")
      for (auto& f : in.faces)
        if (f.frame == best_frame) best_frames.push_back(&f);
  }
  score_faces(best_frames, true);
  const double model_ms = ms_since(t0);
  for (auto& in : inputs)
    if (in.ok() && total_faces)
      in.timing.model_ms = model_ms * static_cast<double>(in.faces.size()) / static_cast<double>(total_faces);
}

InputResult Detector::detect_file(const std::string& path, const Progress& progress, const CallOptions& call) {
  std::vector<InputResult> one{prepare_file(path, progress, call)};
  score(one, call);
  return std::move(one.front());
}

InputResult Detector::detect_video(const std::string& path, const Progress& progress, const CallOptions& call) {
  InputResult r;
  r.path = path;
  r.kind = "video";
  r.threshold = options_.threshold;
  std::vector<InputResult> one;
  if (const std::string problem = data::input_file_problem(path, "video file"); !problem.empty())
    one.push_back(failed(r, "unreadable", IoError(path, problem).what()));
  else
    one.push_back(prepare_video(std::move(r), progress, crops(call)));
  score(one, call);
  return std::move(one.front());
}

InputResult Detector::detect_image(const cv::Mat& bgr, const std::string& name, const CallOptions& call) {
  std::vector<InputResult> one{prepare_image(bgr, name, call)};
  score(one, call);
  return std::move(one.front());
}

std::vector<FaceResult> Detector::score_crops(const std::vector<cv::Mat>& crops, const CallOptions& call) {
  const int size = input_size();
  std::vector<FaceResult> out(crops.size());
  std::vector<FaceResult*> faces;
  for (size_t i = 0; i < crops.size(); ++i) {
    const cv::Mat bgr = to_bgr8(crops[i]);
    if (bgr.empty())
      throw Error("score_crops: crop " + std::to_string(i) + " is empty or not an 8/16-bit image with 1, 3 or 4 channels");
    out[i].box = out[i].crop_region = cv::Rect2f(0, 0, static_cast<float>(bgr.cols), static_cast<float>(bgr.rows));
    out[i].crop = to_input_size(bgr, size);
    faces.push_back(&out[i]);
  }
  score_faces(faces, maps(call));
  return out;
}

}  // namespace sola::detect
