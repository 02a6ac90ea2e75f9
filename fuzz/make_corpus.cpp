// Writes the seed corpus of every fuzz target, made by the project itself (OpenCV for images,
// save_model for model files), plus libFuzzer dictionaries of config keys and HTTP tokens:
//
//   make_corpus OUT_DIR SEEDS_DIR
//
// OUT_DIR/<target>/ gets small valid and nearly valid inputs for each target of entry_points.h and
// fuzz_http (raw HTTP requests), SEEDS_DIR (fuzz/seeds: hand-made files OpenCV cannot write, e.g. a
// CMYK JPEG) is copied into OUT_DIR/fuzz_image/, OUT_DIR/fuzz_config.dict lists every config key and
// section, and OUT_DIR/fuzz_http.dict the methods, routes, headers and options the server knows.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/serialize.h>
#include <torch/torch.h>

#include "core/error.h"
#include "entry_points.h"
#include "model/checkpoint.h"
#include "model/options.h"
#include "train/train_options.h"

namespace fs = std::filesystem;
using namespace std::string_literals;

namespace {

int written = 0;

void write(const fs::path& file, const std::string& bytes) {
  sola::fuzz::write_bytes(file.string(), bytes);
  ++written;
}

/// `img` encoded by OpenCV into `file` (format from the extension); skipped with a note when this
/// OpenCV build has no encoder for it.
void image(const fs::path& file, const cv::Mat& img, const std::vector<int>& params = {}) {
  std::vector<uchar> bytes;
  bool ok = false;
  try {
    ok = cv::imencode(file.extension().string(), img, bytes, params);
  } catch (const cv::Exception& e) {
    std::cerr << "make_corpus: skipped " << file.filename() << ": " << e.err << "\n";
    return;
  }
  if (!ok) {
    std::cerr << "make_corpus: skipped " << file.filename() << ": OpenCV cannot encode it\n";
    return;
  }
  write(file, std::string(bytes.begin(), bytes.end()));
}

/// A smooth colour test pattern (compresses to a few hundred bytes, decodes to every channel).
cv::Mat pattern(int w, int h, int type) {
  cv::Mat m(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) m.at<cv::Vec3b>(y, x) = cv::Vec3b(x * 255 / w, y * 255 / h, (x + y) * 127 / (w + h));
  cv::Mat out;
  const int channels = CV_MAT_CN(type);
  if (channels == 1) cv::cvtColor(m, out, cv::COLOR_BGR2GRAY);
  else if (channels == 4) cv::cvtColor(m, out, cv::COLOR_BGR2BGRA);
  else out = m;
  if (CV_MAT_DEPTH(type) == CV_16U) out.convertTo(out, CV_16U, 257.0);
  return out;
}

void images(const fs::path& dir, const fs::path& seeds) {
  fs::create_directories(dir);
  image(dir / "rgb.png", pattern(16, 12, CV_8UC3));
  image(dir / "gray.png", pattern(16, 12, CV_8UC1));
  image(dir / "rgba.png", pattern(16, 12, CV_8UC4));
  image(dir / "rgb16.png", pattern(8, 8, CV_16UC3));
  image(dir / "gray16.png", pattern(8, 8, CV_16UC1));
  image(dir / "uncompressed.png", pattern(9, 7, CV_8UC3), {cv::IMWRITE_PNG_COMPRESSION, 0});
  image(dir / "rgb.jpg", pattern(16, 16, CV_8UC3), {cv::IMWRITE_JPEG_QUALITY, 80});
  image(dir / "gray.jpg", pattern(16, 16, CV_8UC1));
  image(dir / "progressive.jpg", pattern(24, 16, CV_8UC3), {cv::IMWRITE_JPEG_PROGRESSIVE, 1});
  image(dir / "optimized.jpg", pattern(16, 16, CV_8UC3), {cv::IMWRITE_JPEG_OPTIMIZE, 1});
  image(dir / "restart.jpg", pattern(32, 16, CV_8UC3), {cv::IMWRITE_JPEG_RST_INTERVAL, 1});
  image(dir / "rgb.bmp", pattern(5, 3, CV_8UC3));
  image(dir / "gray.bmp", pattern(5, 3, CV_8UC1));
  image(dir / "rgba.bmp", pattern(4, 2, CV_8UC4));
  image(dir / "lossy.webp", pattern(16, 16, CV_8UC3), {cv::IMWRITE_WEBP_QUALITY, 50});
  image(dir / "lossless.webp", pattern(16, 16, CV_8UC4), {cv::IMWRITE_WEBP_QUALITY, 101});
  image(dir / "rgb.tif", pattern(8, 8, CV_8UC3));
  image(dir / "gray16.tif", pattern(8, 8, CV_16UC1));
  if (fs::is_directory(seeds)) {
    for (const auto& e : fs::directory_iterator(seeds)) {
      if (!e.is_regular_file()) continue;
      fs::copy_file(e.path(), dir / e.path().filename(), fs::copy_options::overwrite_existing);
      ++written;
    }
  }
}

void manifests(const fs::path& dir) {
  fs::create_directories(dir);
  // The rows name the files of sola::fuzz::Scratch, which sit next to the fuzzed manifest.
  write(dir / "valid.csv", "path,label,mask,group,method\na.png,0,,v1,real\nb.jpg,1,m.png,v1,dfdc\n");
  write(dir / "minimal.csv", "path,label\na.png,0\n");
  write(dir / "bom-crlf.csv", "\xEF\xBB\xBFpath,label\r\na.png,0\r\n\r\nb.jpg,1\r\n");
  write(dir / "quoted.csv", "\"path\",\"label\",\"mask\"\n\"a.png\",\"0\",\"\"\n\"b.jpg\",1,\"m.png\"\n");
  write(dir / "reordered.csv", "method,extra,label,path\nx,\"a,b\",0,a.png\n");
  write(dir / "wrong-mask.csv", "path,label,mask\nb.jpg,1,s.png\n");
  write(dir / "not-image.csv", "path,label,mask\nt.png,1,t.png\n");
  write(dir / "missing.csv", "path,label,mask\nnope.png,0,\nb.jpg,1,nomask.png\n");
  write(dir / "bad-label.csv", "path,label\na.png,2\nb.jpg,fake\n");
  write(dir / "duplicate.csv", "path,label\na.png,0\n./a.png,1\n");
  write(dir / "directory.csv", "path,label,mask\nd,1,d\n");
  write(dir / "real-mask.csv", "path,label,mask\na.png,0,m.png\n");
  write(dir / "fields.csv", "path,label\na.png,0,extra\nb.jpg\n");
  write(dir / "header-only.csv", "path,label,mask,group,method\n");
  write(dir / "twice.csv", "path,path,label\na.png,a.png,0\n");
  write(dir / "unclosed.csv", "path,label\n\"a.png,0\n");
  write(dir / "absolute.csv", "path,label\n/dev/null,0\n../../x.png,1\n");
}

void configs(const fs::path& dir, const fs::path& dict) {
  fs::create_directories(dir);
  const nlohmann::json model = sola::to_json(sola::ModelOptions{});
  const nlohmann::json train = sola::options_to_json(sola::TrainOptions{});
  write(dir / "defaults.json", nlohmann::json{{"model", model}, {"train", train}}.dump(1));
  write(dir / "readme.json",
        R"({"model": {"backbone": "resnet18", "grid": 16, "noise": "asrm", "lem": true},
 "train": {"loss": "weak", "epochs": 50, "batch_size": 32, "lr": 0.001}})");
  write(dir / "small.json", R"({"model":{"input_size":128,"grid":8,"asrm_eps":1e-5},"train":{"lr_schedule":"cosine"}})");
  write(dir / "empty.json", "{}");
  write(dir / "bom.json", "\xEF\xBB\xBF{\"model\":{}}");
  write(dir / "unknown-key.json", R"({"model":{"gird":8}})");
  write(dir / "unknown-section.json", R"({"data":{}})");
  write(dir / "wrong-type.json", R"({"model":{"grid":"8","lem":1},"train":{"lr":"fast"}})");
  write(dir / "out-of-range.json", R"({"model":{"grid":7,"input_size":100},"train":{"epochs":0,"lr":-1}})");
  write(dir / "big-numbers.json", R"({"train":{"epochs":18446744073709551615,"lr":1e400,"seed":-9223372036854775808}})");
  write(dir / "not-object.json", R"([{"model":{}}])");
  write(dir / "sections-not-objects.json", R"({"model":[],"train":null})");
  // After the first NUL: one --set KEY=VALUE per NUL-separated piece.
  write(dir / "sets.json", "{}\0grid=8\0lr=0.01\0noise=srm\0lem=false"s);
  write(dir / "bad-sets.json", "{\"model\":{}}\0grid=abc\0=1\0novalue\0epochs=1e3"s);

  std::ofstream out(dict);
  auto entry = [&](const std::string& s) { out << nlohmann::json(s).dump() << "\n"; };
  entry("\"model\"");
  entry("\"train\"");
  auto key = [&](const sola::OptionDoc& d) {
    entry("\"" + d.key + "\"");  // as a JSON key
    entry(d.key + "=");         // as a --set
  };
  for (const auto& d : sola::options_docs<sola::ModelOptions>()) key(d);
  for (const auto& d : sola::options_docs<sola::TrainOptions>()) key(d);
}

/// A LibTorch archive shaped like a model file: format tag, config and metadata strings, and an
/// optional "model" sub-archive holding `weights`; no CRC trailer (as sola-model-v1 files were), so
/// mutations reach the archive reader instead of stopping at the checksum.
void archive(const fs::path& file, const std::string& format, const std::string& config,
             const std::vector<std::pair<std::string, torch::Tensor>>& weights, bool with_model = true) {
  torch::serialize::OutputArchive a;
  a.write("format", c10::IValue(format));
  a.write("config", c10::IValue(config));
  a.write("metadata", c10::IValue(std::string(R"({"epoch":1})")));
  if (with_model) {
    torch::serialize::OutputArchive w;
    for (const auto& [name, t] : weights) w.write(name, t);
    a.write("model", w);
  }
  a.save_to(file.string());
  ++written;
}

void checkpoints(const fs::path& dir) {
  fs::create_directories(dir);
  // The smallest model the options allow: one branch, no DCAM/LEM, 1-channel heads (~5.5 MB).
  const sola::ModelOptions tiny = sola::ModelOptions{}
                                      .noise("none")
                                      .dcam(false)
                                      .lem(false)
                                      .input_size(32)
                                      .grid(4)
                                      .anomaly_channels(1)
                                      .classifier_channels(1)
                                      .classifier_kernel(1);
  const std::string config = sola::to_json(tiny).dump();
  torch::manual_seed(0);
  sola::SaveOptions half;
  half.half = true;  // float16 weights: half the bytes to mutate
  sola::save_model((dir / "tiny-valid.pt").string(), *sola::build_model(tiny), {{"epoch", 3}, {"auc", 0.5}}, nullptr,
                   half);
  ++written;
  // Small archives that reach every check of load_model without 11 MB of weights.
  const auto t = torch::arange(4, torch::kFloat);
  archive(dir / "no-model.pt", "sola-model-v1", config, {}, false);
  archive(dir / "wrong-weights.pt", "sola-model-v1", config, {{"rgb.conv1.weight", t}});
  archive(dir / "empty-weights.pt", "sola-model-v1", config, {});
  archive(dir / "bad-config.pt", "sola-model-v1", R"({"grid":7})", {{"w", t}});
  archive(dir / "config-not-json.pt", "sola-model-v1", "{grid", {{"w", t}});
  archive(dir / "config-unknown-key.pt", "sola-model-v1", R"({"gird":4})", {{"w", t}});
  archive(dir / "wrong-format.pt", "other-format", config, {{"w", t}});
}

/// A POST /v1/detect request (query string `query`) with `body` of `type`, its Content-Length exact.
std::string post(const std::string& query, const std::string& type, const std::string& body) {
  return "POST /v1/detect" + query + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

/// multipart/form-data with boundary "b0undary": `fields` as (name, value) and the PNG as field "image".
std::string multipart(const std::vector<std::pair<std::string, std::string>>& fields, const std::string& png) {
  std::string body;
  for (const auto& [name, value] : fields)
    body += "--b0undary\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n";
  body += "--b0undary\r\nContent-Disposition: form-data; name=\"image\"; filename=\"face.png\"\r\n"
          "Content-Type: image/png\r\n\r\n" + png + "\r\n--b0undary--\r\n";
  return body;
}

/// `token` as a libFuzzer dictionary entry: quoted, with \\, \" and \xNN as its only escapes.
std::string dict_entry(const std::string& token) {
  std::string entry = "\"";
  for (char c : token) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      entry += '\\';
      entry += c;
    } else if (u >= 0x20 && u < 0x7f) {
      entry += c;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", u);
      entry += buf;
    }
  }
  return entry + "\"";
}

/// Raw requests for the in-process server of fuzz_http (fuzz_http.cpp): every route and method,
/// detect uploads (multipart and raw, with options), and requests each refusal of server.h answers.
void http(const fs::path& dir, const fs::path& dict) {
  fs::create_directories(dir);
  std::vector<uchar> encoded;
  cv::imencode(".png", pattern(32, 32, CV_8UC3), encoded);
  const std::string png(encoded.begin(), encoded.end());
  const std::string host = "Host: 127.0.0.1\r\n";
  const std::string form = "multipart/form-data; boundary=b0undary";
  write(dir / "get-root.http", "GET / HTTP/1.1\r\n" + host + "\r\n");
  write(dir / "get-healthz.http", "GET /healthz HTTP/1.1\r\n" + host + "Connection: close\r\n\r\n");
  write(dir / "head-root.http", "HEAD / HTTP/1.0\r\n\r\n");
  write(dir / "detect-multipart.http", post("", form, multipart({}, png)));
  write(dir / "detect-multipart-options.http",
        post("", form, multipart({{"threshold", "0.25"}, {"crops", "1"}, {"heatmap", "1"}}, png)));
  write(dir / "detect-raw.http", post("", "image/png", png));
  write(dir / "detect-raw-heatmap.http", post("?heatmap=1&threshold=0.7&crops=true", "image/png", png));
  write(dir / "detect-raw-faces.http", post("?crops=0", "application/octet-stream", png));
  write(dir / "detect-expect-100.http",
        "POST /v1/detect HTTP/1.1\r\n" + host + "Expect: 100-continue\r\nContent-Type: image/png\r\nContent-Length: " +
            std::to_string(png.size()) + "\r\n\r\n" + png);
  write(dir / "detect-bad-option.http", post("?heatmaps=1&threshold=2", "image/png", png));
  write(dir / "detect-not-image.http", post("", "text/plain", "hello"));
  write(dir / "detect-truncated-png.http", post("", "image/png", png.substr(0, 40)));
  write(dir / "traversal.http", "GET /../../etc/passwd HTTP/1.1\r\n" + host + "\r\n");
  write(dir / "traversal-encoded.http", "GET /%2e%2e/%2e%2e/etc/passwd?x=%00 HTTP/1.1\r\n" + host + "\r\n");
  write(dir / "wrong-method.http", "DELETE /healthz HTTP/1.1\r\n" + host + "\r\n");
  write(dir / "chunked.http", "POST /v1/detect HTTP/1.1\r\n" + host +
                                  "Transfer-Encoding: chunked\r\nContent-Type: image/png\r\n\r\n10\r\n" +
                                  png.substr(0, 16) + "\r\n0\r\n\r\n");
  write(dir / "oversized.http", "POST /v1/detect HTTP/1.1\r\n" + host +
                                    "Content-Type: image/png\r\nContent-Length: 99999999999\r\n\r\n" + png);
  write(dir / "gzip.http", "POST /v1/detect HTTP/1.1\r\n" + host +
                               "Content-Encoding: gzip\r\nContent-Type: image/png\r\nContent-Length: 4\r\n\r\nabcd");
  write(dir / "range.http", "GET / HTTP/1.1\r\n" + host + "Range: bytes=0-9,20-29,-5\r\n\r\n");

  std::ofstream out(dict);
  for (const char* token :
       {"GET ", "HEAD ", "POST ", "PUT ", "OPTIONS ", " HTTP/1.1\r\n", " HTTP/1.0\r\n", "\r\n", "\r\n\r\n", "/",
        "/healthz", "/v1/detect", "?", "&", "=", "%00", "Host: ", "Content-Length: ", "Content-Type: ",
        "Transfer-Encoding: chunked", "Content-Encoding: ", "Expect: 100-continue", "Connection: close",
        "Range: bytes=", "image/png", "image/jpeg", "application/octet-stream", "multipart/form-data; boundary=",
        "Content-Disposition: form-data; name=", "; filename=", "--", "threshold", "crops", "heatmap", "image"})
    out << dict_entry(token) << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: make_corpus OUT_DIR SEEDS_DIR\n";
    return 2;
  }
  const fs::path out = argv[1], seeds = argv[2];
  try {
    images(out / "fuzz_image", seeds);
    manifests(out / "fuzz_manifest");
    configs(out / "fuzz_config", out / "fuzz_config.dict");
    checkpoints(out / "fuzz_checkpoint");
    http(out / "fuzz_http", out / "fuzz_http.dict");
  } catch (const std::exception& e) {
    std::cerr << "make_corpus: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "make_corpus: wrote " << written << " seed files under " << out << "\n";
  return 0;
}
