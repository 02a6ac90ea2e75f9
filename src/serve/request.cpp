#include "serve/request.h"

#include <algorithm>
#include <array>
#include <optional>

#include <opencv2/imgcodecs.hpp>

#include "core/parse.h"
#include "data/video.h"
#include "serve/server.h"

namespace sola::serve {
namespace {

/// Options a detect request may set (query string or form fields).
constexpr std::array<const char*, 4> kRequestOptions{"threshold", "crops", "heatmap", "progress"};

/// The value of a request option from the query string or a form field.
std::optional<std::string> request_option(const httplib::Request& req, const std::string& key) {
  if (req.has_param(key)) return req.get_param_value(key);
  if (req.has_file(key)) return req.get_file_value(key).content;
  return std::nullopt;
}

bool parse_flag(const std::string& key, const std::string& value) {
  if (value == "1" || value == "true" || value == "yes" || value == "on") return true;
  if (value == "0" || value == "false" || value == "no" || value == "off" || value.empty()) return false;
  throw HttpError{400, "option " + key + "='" + printable(value, 40) + "': expected 1/0, true/false, yes/no or on/off"};
}

double parse_threshold(const std::string& value) {
  const std::optional<double> v = parse_double(value);
  if (!v || !(*v >= 0 && *v <= 1))
    throw HttpError{400, "option threshold='" + printable(value, 40) + "': expected a number in [0, 1]"};
  return *v;
}

/// Rejects options nobody reads (a typo such as heatmaps=1 would otherwise be ignored silently).
void check_option_names(const httplib::Request& req) {
  auto known = [](const std::string& key) {
    return std::find(kRequestOptions.begin(), kRequestOptions.end(), key) != kRequestOptions.end();
  };
  std::string list;
  for (const char* k : kRequestOptions) list += (list.empty() ? "" : ", ") + std::string(k);
  for (const auto& [key, value] : req.params)
    if (!known(key)) throw HttpError{400, "unknown option '" + printable(key, 40) + "' (known: " + list + ")"};
  for (const auto& [key, file] : req.files) {
    if (key.empty())  // httplib could not parse the part's Content-Disposition (e.g. an unquoted file name)
      throw HttpError{400, "malformed multipart/form-data part: its Content-Disposition header could not be read "
                           "(expected: form-data; name=\"image\"; filename=\"NAME\")"};
    if (key != "image" && key != "video" && !known(key))
      throw HttpError{400, "unknown form field '" + printable(key, 40) + "' (known: image, video, " + list + ")"};
    if (req.files.count(key) > 1)
      throw HttpError{400, "form field '" + printable(key, 40) + "' is given " + std::to_string(req.files.count(key)) +
                               " times: send one image or video per request"};
  }
}

}  // namespace

std::string printable(const std::string& text, size_t max, bool utf8) {
  std::string out;
  for (char c : text) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7f) || (utf8 && u >= 0x80) ? c : '?';
  }
  return out;
}

DetectRequest parse_detect_request(const httplib::Request& req, double default_threshold, bool default_crops) {
  check_option_names(req);
  DetectRequest r;
  r.threshold = default_threshold;
  r.crops = default_crops;
  if (auto v = request_option(req, "threshold")) r.threshold = parse_threshold(*v);
  if (auto v = request_option(req, "crops")) r.crops = parse_flag("crops", *v);
  if (auto v = request_option(req, "heatmap")) r.heatmap = parse_flag("heatmap", *v);
  if (auto v = request_option(req, "progress")) r.progress = parse_flag("progress", *v);
  return r;
}

Upload upload_of(const httplib::Request& req) {
  if (req.is_multipart_form_data()) {
    if (req.has_file("image") && req.has_file("video"))
      throw HttpError{400, "the upload has both an 'image' and a 'video' field: send one image or video per request"};
    const char* field = req.has_file("image") ? "image" : req.has_file("video") ? "video" : nullptr;
    if (!field) throw HttpError{400, "no image: the multipart/form-data upload has no field 'image' (or 'video')"};
    const auto it = req.files.find(field);
    std::string name = printable(it->second.filename, 120, /*utf8=*/true);
    return {&it->second.content, name.empty() ? "upload" : name, it->second.content_type, field};
  }
  const std::string type = req.get_header_value("Content-Type");
  if (req.body.empty())
    throw HttpError{400, "empty upload: send an image as multipart/form-data field 'image' or as a raw image/* body"};
  if (type.rfind("image/", 0) != 0 && type.rfind("video/", 0) != 0 && type.rfind("application/octet-stream", 0) != 0)
    throw HttpError{415, "Content-Type '" + printable(type, 60) +
                             "' is not accepted: send multipart/form-data with field 'image' or a raw image/* "
                             "or video/* body"};
  return {&req.body, "upload", type, ""};
}

bool is_video_upload(const Upload& u) {
  if (!probe_video_container(*u.bytes).empty()) return true;
  if (!data::probe_image_header(*u.bytes).format.empty()) return false;
  return u.type.rfind("video/", 0) == 0 || data::is_video_file(u.name);
}

data::ImageHeader check_image_header(const std::string& bytes, const std::string& name, int max_side) {
  const data::ImageHeader header = data::probe_image_header(bytes);
  if (header.format.empty() || header.format == "tiff")  // TIFF: a decoder the server does not expose
    throw HttpError{400, "cannot decode image " + name + ": not a PNG, JPEG, BMP or WebP file, or its header is corrupt"};
  if (!header.ok())
    throw HttpError{400, "cannot decode image " + name + ": its " + header.format + " header gives a size of " +
                             std::to_string(header.width) + "x" + std::to_string(header.height)};
  const int64_t side = std::max(header.width, header.height);
  if (side > max_side)
    throw HttpError{422, "image " + name + " is " + std::to_string(header.width) + "x" + std::to_string(header.height) +
                             ": the longest side may be at most " + std::to_string(max_side) + " pixels"};
  return header;
}

cv::Mat decode_image(const std::string& bytes, const data::ImageHeader& header, const std::string& name, int max_side) {
  cv::Mat bgr;
  try {
    const cv::Mat buffer(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<char*>(bytes.data()));
    bgr = cv::imdecode(buffer, cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
  } catch (const cv::Exception& e) {
    throw HttpError{400, "cannot decode image " + name + ": corrupt " + header.format + " data (" + printable(e.err, 200) + ")"};
  }
  if (bgr.empty()) throw HttpError{400, "cannot decode image " + name + ": corrupt or truncated " + header.format + " data"};
  if (std::max(bgr.rows, bgr.cols) > max_side)  // a header that lied
    throw HttpError{422, "image " + name + " decodes to " + std::to_string(bgr.cols) + "x" + std::to_string(bgr.rows) +
                             ": the longest side may be at most " + std::to_string(max_side) + " pixels"};
  return bgr;
}

}  // namespace sola::serve
