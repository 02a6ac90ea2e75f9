#pragma once
// The requests of `sola serve`'s POST /v1/detect, read and checked: the options (query string or form
// fields), the upload (a multipart field or a raw body), and an image upload's header and pixels.
// Every problem is an HttpError carrying the status to answer and a message naming the upload.
#include <cstddef>
#include <string>

#include <httplib.h>
#include <opencv2/core.hpp>

#include "data/image_header.h"

namespace sola::serve {

/// An error answered as {"error": message} with `status`.
struct HttpError {
  int status;
  std::string message;
};

/// `text` made safe for a log line or a message: control characters replaced by '?', at most `max`
/// bytes; bytes above 0x7f are kept with `utf8` (JSON output replaces invalid sequences), else replaced.
std::string printable(const std::string& text, size_t max = 200, bool utf8 = false);

/// The options of one detect request.
struct DetectRequest {
  double threshold = 0.5;  ///< threshold=0.5: labels (the faces are scored alike at any threshold)
  bool crops = false;      ///< crops=0|1: the upload is a face crop
  bool heatmap = false;    ///< heatmap=0|1: a heat map per face (the detection computes the maps)
  bool progress = false;   ///< progress=0|1: a video's answer streamed as JSON lines
};

/// The request's options from its query string or form fields; threshold and crops default to the
/// server's. HttpError 400 for an unknown option or form field (a typo such as heatmaps=1 is not
/// ignored), a field given twice, a multipart part whose Content-Disposition cannot be read, or a
/// bad value (threshold outside [0, 1]; flags: 1/0, true/false, yes/no, on/off, empty for 0).
DetectRequest parse_detect_request(const httplib::Request& req, double default_threshold, bool default_crops);

/// The upload's bytes (pointing into the request), a name for messages, its declared type and its
/// form field ("" for a raw body).
struct Upload {
  const std::string* bytes;
  std::string name, type, field;
};

/// The multipart field "image" or "video" (one of them, once), or a raw body of type image/*,
/// video/* or application/octet-stream. HttpError 400 (none, both, empty) or 415 (another type).
Upload upload_of(const httplib::Request& req);

/// A video by its first bytes, or one that says it is (type video/*, a video file name) but is
/// neither an image nor a container sola reads (then the server refuses it with 415). The bytes
/// decide: an image named clip.mp4 is an image.
bool is_video_upload(const Upload& upload);

/// The header of an image upload, checked: a PNG, JPEG, BMP or WebP header with a size (else 400)
/// whose longest side is at most `max_side` (else 422).
data::ImageHeader check_image_header(const std::string& bytes, const std::string& name, int max_side);

/// Decodes an upload whose header passed check_image_header (so nothing is allocated for an image
/// above the size limit) as 8-bit BGR: 400 when corrupt or truncated, 422 when it decodes larger
/// than `max_side` (a header that lied).
cv::Mat decode_image(const std::string& bytes, const data::ImageHeader& header, const std::string& name, int max_side);

}  // namespace sola::serve
