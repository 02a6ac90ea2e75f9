#include "serve/server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/runtime.h"
#include "data/video.h"
#include "detect/heatmap.h"
#include "serve/detector_pool.h"
#include "serve/gate.h"
#include "serve/request.h"
#include "serve/video_upload.h"

namespace sola::serve {
namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

/// The routes and the methods each allows (HEAD goes with GET).
struct Route {
  const char* path;
  const char* allow;
};
constexpr std::array<Route, 3> kRoutes{{{"/", "GET, HEAD"}, {"/healthz", "GET, HEAD"}, {"/v1/detect", "POST"}}};

/// Thrown from a video detection's progress callback when its client has gone.
struct ClientGone {};

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double round_ms(double ms) { return std::round(ms * 100.0) / 100.0; }

/// JSON text; invalid UTF-8 (e.g. in an uploaded file name) is replaced rather than thrown on.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void set_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(dump(body), "application/json");
}

void set_error(httplib::Response& res, int status, const std::string& message) {
  set_json(res, status, json{{"error", message}});
}

std::string mib(size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

const Route* find_route(const std::string& path) {
  for (const auto& r : kRoutes)
    if (path == r.path) return &r;
  return nullptr;
}

bool method_allowed(const Route& route, const std::string& method) {
  if (method == "POST") return std::string(route.allow) == "POST";
  if (method == "GET" || method == "HEAD") return std::string(route.allow) != "POST";
  return false;
}

}  // namespace

// ---- helpers --------------------------------------------------------------------------------

std::string base64_encode(const std::string& bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8) |
                       uint32_t(uint8_t(bytes[i + 2]));
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    if (i + 1 < bytes.size()) v |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

void ServeOptions::validate() const {
  auto bad = [](const std::string& key, const std::string& value, const std::string& rule) {
    throw ConfigError("serve option " + key + " = " + value + ": " + rule);
  };
  if (host.empty()) bad("host", "''", "must name an address to listen on");
  if (port < 0 || port > 65535) bad("port", std::to_string(port), "must be in [0, 65535] (0: any free port)");
  if (max_upload_bytes < 1) bad("max_upload_bytes", "0", "must be at least 1");
  if (max_video_bytes < 1) bad("max_video_bytes", "0", "must be at least 1");
  if (!(max_video_seconds > 0)) bad("max_video_seconds", std::to_string(max_video_seconds), "must be positive");
  if (max_video_frames < 1) bad("max_video_frames", std::to_string(max_video_frames), "must be at least 1");
  if (max_image_side < 1) bad("max_image_side", std::to_string(max_image_side), "must be at least 1");
  if (max_in_flight < 1) bad("max_in_flight", std::to_string(max_in_flight), "must be at least 1");
  if (read_timeout_s < 1) bad("read_timeout_s", std::to_string(read_timeout_s), "must be at least 1 second");
  if (write_timeout_s < 1) bad("write_timeout_s", std::to_string(write_timeout_s), "must be at least 1 second");
  if (threads < 1) bad("threads", std::to_string(threads), "must be at least 1");
  if (max_connections < 1) bad("max_connections", std::to_string(max_connections), "must be at least 1");
  if (max_queued < 0) bad("max_queued", std::to_string(max_queued), "must be at least 0");
  if (header_timeout_s < 1) bad("header_timeout_s", std::to_string(header_timeout_s), "must be at least 1 second");
  if (request_timeout_s < header_timeout_s)
    bad("request_timeout_s", std::to_string(request_timeout_s),
        "must be at least header_timeout_s (" + std::to_string(header_timeout_s) + " s)");
  if (!(detect.threshold >= 0 && detect.threshold <= 1))
    bad("threshold", std::to_string(detect.threshold), "must be in [0, 1]");
}

namespace {

/// When the request being served on this thread began (httplib serves a connection on one thread).
thread_local std::optional<Clock::time_point> t_request_start;

void mark_request_start() {
  if (!t_request_start) t_request_start = Clock::now();
}

/// The gate's limits from the server's options; refusals are logged like requests.
GateLimits gate_limits(const ServeOptions& o) {
  GateLimits g;
  g.threads = o.threads;
  g.max_connections = o.max_connections;
  g.max_queued = o.max_queued;
  g.header_timeout_s = o.header_timeout_s;
  g.request_timeout_s = o.request_timeout_s;
  g.read_timeout_s = o.read_timeout_s;
  g.write_timeout_s = o.write_timeout_s;
  if (o.log_requests)
    g.log = [](const std::string& line) {
      const std::string text = line + "\n";
      std::fwrite(text.data(), 1, text.size(), stderr);
    };
  return g;
}

/// A request's choices as the per-call options of its slot's Detector (heat maps need the maps).
detect::CallOptions call_options(const DetectRequest& rq) { return {rq.crops, rq.heatmap}; }

json connections_json(const GateStats& s) {
  return json{{"open", s.open},         {"waiting_for_header", s.waiting}, {"queued", s.queued},
              {"busy", s.busy},         {"accepted", s.accepted},          {"refused_busy", s.refused},
              {"timed_out", s.timed_out}};
}

}  // namespace

// ---- server ---------------------------------------------------------------------------------

struct Server::Impl {
  ServeOptions opts;
  sola::Detector model;
  DetectorPool pool;
  GatedServer http;  // slow clients wait for their header outside the worker threads (serve/gate.h)
  std::thread thread;
  std::atomic<int> port{0};
  std::atomic<bool> started{false}, thread_done{false};
  std::mutex stop_mutex, join_mutex;

  Impl(sola::Detector m, ServeOptions o)
      : opts((o.validate(), std::move(o))),
        model(std::move(m)),
        pool(model, opts.detect, opts.max_in_flight),
        http(gate_limits(opts)) {
    install();
  }

  void log_line(const httplib::Request& req, const httplib::Response& res) {
    const double ms = t_request_start ? ms_since(*t_request_start) : 0.0;
    t_request_start.reset();
    if (!opts.log_requests) return;
    char buf[64];
    std::snprintf(buf, sizeof buf, " %d %.1fms\n", res.status, ms);
    const std::string line = "sola serve: " + (req.method.empty() ? std::string("-") : printable(req.method, 10)) +
                             " " + (req.path.empty() ? std::string("-") : printable(req.path)) + buf;
    std::fwrite(line.data(), 1, line.size(), stderr);
  }

  /// Checks made from the headers alone, before any body is read. Returns true when `res` holds
  /// the answer. `size_checked` says whether an oversized Content-Length is answered here too.
  bool reject_early(const httplib::Request& req, httplib::Response& res, bool size_checked) {
    const Route* route = find_route(req.path);
    if (!route) {
      set_error(res, 404, "not found: " + printable(req.path) + " (routes: GET /, GET /healthz, POST /v1/detect)");
      return true;
    }
    if (!method_allowed(*route, req.method)) {
      set_error(res, 405, "method " + printable(req.method, 10) + " not allowed on " + route->path + " (allowed: " +
                              route->allow + ")");
      res.set_header("Allow", route->allow);
      return true;
    }
    if (req.method != "POST") return false;
    if (req.has_header("Transfer-Encoding")) {
      set_error(res, 411, "send the upload with a Content-Length header (chunked transfer encoding is not accepted)");
      return true;
    }
    const std::string encoding = req.get_header_value("Content-Encoding");
    if (!encoding.empty() && encoding != "identity") {
      set_error(res, 415, "Content-Encoding '" + printable(encoding, 40) + "' is not accepted: send the image as is");
      return true;
    }
    if (!req.has_header("Content-Length")) {  // no length and no chunking: the body is empty (RFC 9112 6.3)
      set_error(res, 400, "empty upload: send an image as multipart/form-data field 'image' or as a raw image/* body");
      return true;
    }
    if (size_checked) {
      const std::string length = req.get_header_value("Content-Length");
      unsigned long long n = 0;
      try {
        n = std::stoull(length);
      } catch (const std::exception&) {
        set_error(res, 400, "bad Content-Length '" + printable(length, 40) + "'");
        return true;
      }
      if (n > max_body()) {
        set_error(res, 413, too_large_message());
        return true;
      }
    }
    return false;
  }

  /// The largest request body read: the larger of the image and the video limit.
  size_t max_body() const { return std::max(opts.max_upload_bytes, opts.max_video_bytes); }

  std::string too_large_message() const {
    return "upload too large: the limit is " + std::to_string(opts.max_upload_bytes) + " bytes (" +
           mib(opts.max_upload_bytes) + ") for an image, " + std::to_string(opts.max_video_bytes) + " bytes (" +
           mib(opts.max_video_bytes) + ") for a video";
  }

  void install() {
    // Worker threads, timeouts and one request per connection are the gate's (gate_limits).
    http.set_payload_max_length(max_body());
    // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, which would let a second server
    // bind the same port and silently share its connections.
    http.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });

    http.set_expect_100_continue_handler([this](const httplib::Request& req, httplib::Response& res) {
      mark_request_start();
      return reject_early(req, res, /*size_checked=*/true) ? res.status : 100;
    });
    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      mark_request_start();
      // Oversized bodies with a Content-Length are left to httplib, which discards them and answers 413
      // (answering before the body is read would reset the connection under the client's upload).
      return reject_early(req, res, /*size_checked=*/false) ? httplib::Server::HandlerResponse::Handled
                                                            : httplib::Server::HandlerResponse::Unhandled;
    });
    http.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req,
                                                                     httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // our own JSON error
      if (res.status == 400) {  // a body read that ended at a timeout: the client stalled, not a bad request
        if (const std::string why = GatedServer::read_timeout_reason(); !why.empty()) {
          set_error(res, 408, why);
          return httplib::Server::HandlerResponse::Handled;
        }
      }
      std::string message;
      switch (res.status) {
        case 400: message = "bad request: malformed HTTP request"; break;
        case 404: message = "not found: " + printable(req.path); break;
        case 413: message = too_large_message(); break;
        case 414: message = "request URI too long"; break;
        case 416: message = "bad Range header"; break;
        default: message = "HTTP status " + std::to_string(res.status);
      }
      set_error(res, res.status, message);
      return httplib::Server::HandlerResponse::Handled;
    }));
    http.set_exception_handler([this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "unknown exception";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      std::fprintf(stderr, "sola serve: error in %s %s: %s\n", printable(req.method, 10).c_str(),
                   printable(req.path).c_str(), printable(what, 500).c_str());
      set_error(res, 500, "internal error: " + what);
    });
    http.set_logger([this](const httplib::Request& req, const httplib::Response& res) { log_line(req, res); });

    http.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(web_page(), "text/html; charset=utf-8");
      res.set_header("Cache-Control", "no-store");
    });
    http.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) { set_json(res, 200, health()); });
    http.Post("/v1/detect", [this](const httplib::Request& req, httplib::Response& res) {
      try {
        detect_request(req, res);
      } catch (const HttpError& e) {
        set_error(res, e.status, e.message);
      }
    });
  }

  json health() const {
    const auto& m = model->options();
    return json{{"status", "ok"},
                {"version", SOLA_VERSION},
                {"torch", torch_version()},
                {"model", {{"arch", m.arch()}, {"backbone", m.backbone()}, {"input_size", m.input_size()}, {"grid", m.grid()}}},
                {"limits",
                 {{"max_upload_bytes", opts.max_upload_bytes},
                  {"max_video_bytes", opts.max_video_bytes},
                  {"max_video_seconds", opts.max_video_seconds},
                  {"max_video_frames", opts.max_video_frames},
                  {"max_image_side", opts.max_image_side},
                  {"max_in_flight", opts.max_in_flight},
                  {"threads", opts.threads},
                  {"max_connections", opts.max_connections},
                  {"max_queued", opts.max_queued},
                  {"header_timeout_s", opts.header_timeout_s},
                  {"request_timeout_s", opts.request_timeout_s}}},
                {"in_flight", pool.in_use()},
                {"connections", connections_json(http.stats())},
                {"threshold", opts.detect.threshold},
                {"crops", opts.detect.crops}};
  }

  void detect_request(const httplib::Request& req, httplib::Response& res) {
    const auto t0 = t_request_start.value_or(Clock::now());
    const DetectRequest rq = parse_detect_request(req, opts.detect.threshold, opts.detect.crops);
    const Upload upload = upload_of(req);
    const std::string* bytes = upload.bytes;
    const std::string& name = upload.name;
    if (bytes->empty()) throw HttpError{400, "empty upload: the field '" + upload.field + "' holds no data"};
    if (is_video_upload(upload)) {
      detect_video_request(upload, rq, t0, res);
      return;
    }
    if (bytes->size() > opts.max_upload_bytes) throw HttpError{413, too_large_message()};

    const ImageHeader header = check_image_header(*bytes, name, opts.max_image_side);  // cheap: a bad upload is refused even when busy

    // Decoding (up to max_image_side^2 pixels) and detection happen only inside a slot.
    std::optional<DetectorPool::Lease> lease = pool.try_acquire();
    if (!lease) {
      res.set_header("Retry-After", "1");
      throw HttpError{503, "busy: " + std::to_string(opts.max_in_flight) + " detections are running; retry shortly"};
    }
    if (opts.on_detect) opts.on_detect();
    const auto t_decode = Clock::now();
    const cv::Mat bgr = decode_image(*bytes, header, name, opts.max_image_side);
    const double decode_ms = ms_since(t_decode);

    const auto t_detect = Clock::now();
    detect::InputResult result = lease->detector().detect_image(bgr, name, call_options(rq));
    // The slot's detector decides labels at the server's threshold; this request may ask for another.
    if (const std::string damage = data::encoded_image_damage(*bytes); !damage.empty())
      result.warnings.push_back(name + ": " + damage);
    result.apply_threshold(rq.threshold);
    json j = result.to_json();
    if (rq.heatmap) {
      for (size_t i = 0; i < result.faces.size() && i < j["faces"].size(); ++i)
        j["faces"][i]["heatmap_png"] = base64_encode(detect::encode_png(detect::render_heatmap(result.faces[i], rq.threshold)));
    }
    const double detect_ms = ms_since(t_detect);
    lease.reset();
    j["image"] = {{"width", bgr.cols}, {"height", bgr.rows}, {"bytes", bytes->size()}};
    j["timing"] = {{"decode_ms", round_ms(decode_ms)}, {"detect_ms", round_ms(detect_ms)}, {"total_ms", round_ms(ms_since(t0))}};
    set_json(res, 200, j);
  }

  // ---- videos ---------------------------------------------------------------------------------

  /// Checks the upload, takes a slot, writes the video to a temporary file and answers with its result:
  /// at once, or streamed with progress lines (progress=1).
  void detect_video_request(const Upload& upload, const DetectRequest& rq, Clock::time_point t0, httplib::Response& res) {
    const std::string& name = upload.name;
    const std::string format = probe_video_container(*upload.bytes);
    if (!is_accepted_video(format))
      throw HttpError{415, "video " + name + ": " +
                               (format.empty() ? std::string("not a video container sola reads")
                                               : "the " + format + " container is not accepted") +
                               " (accepted: " + kAcceptedVideos + ")"};
    if (upload.bytes->size() > opts.max_video_bytes)
      throw HttpError{413, "video " + name + " is " + mib(upload.bytes->size()) + ": the limit is " +
                               std::to_string(opts.max_video_bytes) + " bytes (" + mib(opts.max_video_bytes) + ")"};
    std::optional<DetectorPool::Lease> lease = pool.try_acquire();
    if (!lease) {
      res.set_header("Retry-After", "1");
      throw HttpError{503, "busy: " + std::to_string(opts.max_in_flight) + " detections are running; retry shortly"};
    }
    if (opts.on_detect) opts.on_detect();
    auto file = std::make_shared<TempFile>(*upload.bytes, "." + format);
    const VideoLength length = checked_length(file->path(), name, format);
    json video{{"format", format}, {"bytes", upload.bytes->size()}, {"frames", length.frames},
               {"fps", std::round(length.fps * 1000) / 1000}, {"width", length.width}, {"height", length.height}};
    video["duration_s"] = length.seconds >= 0 ? json(std::round(length.seconds * 1000) / 1000) : json(nullptr);
    auto shared_lease = std::make_shared<DetectorPool::Lease>(std::move(*lease));
    auto on_frame = opts.on_video_frame;
    auto run = [shared_lease, file, rq, t0, name, video, on_frame](const detect::Detector::Progress& progress) {
      auto on_progress = [&](int64_t done, int64_t total) {
        if (on_frame) on_frame(done);
        progress(done, total);
      };
      detect::InputResult r = shared_lease->detector().detect_video(file->path(), on_progress, call_options(rq));
      return video_json(std::move(r), file->path(), name, video, rq, t0);
    };
    if (!rq.progress) {
      // A client that closes the connection stops the detection at the next frame (its slot is freed).
      try {
        const json j = run([](int64_t, int64_t) {
          if (GatedServer::client_gone()) throw ClientGone{};
        });
        set_json(res, 200, j);
      } catch (const ClientGone&) {
        set_error(res, 400, "cancelled: the client closed the connection");
      }
      return;
    }
    // Streamed: the detection runs while the answer is written (on this connection's thread, in
    // its slot); a client that goes away stops it at the next frame.
    res.status = 200;
    res.set_chunked_content_provider("application/x-ndjson", [run](size_t, httplib::DataSink& sink) {
      auto line = [&sink](const json& j) {
        const std::string text = dump(j) + "\n";
        return sink.write(text.data(), text.size());
      };
      json last;
      try {
        last = run([&](int64_t done, int64_t total) {
          if (!line(json{{"progress", {{"frames_done", done}, {"frames_total", total}}}})) throw ClientGone{};
        });
      } catch (const ClientGone&) {
        return false;
      } catch (const HttpError& e) {
        last = json{{"error", e.message}};
      } catch (const std::exception& e) {
        last = json{{"error", std::string("internal error: ") + e.what()}};
      }
      line(last);
      sink.done();
      return true;
    });
  }

  /// The video's length and frame size from its header, checked against the limits (413, 422); a
  /// header without a plausible frame count has its frames counted, up to max_video_frames.
  VideoLength checked_length(const std::string& path, const std::string& name, const std::string& format) const {
    const std::string unreadable = "cannot decode video " + name + ": not a readable " + format +
                                   " file (corrupt, truncated or an unsupported codec)";
    VideoLength length;
    try {
      length = video_length(path);
    } catch (const IoError&) {
      throw HttpError{400, unreadable};
    }
    if (length.width <= 0 || length.height <= 0)
      throw HttpError{400, "cannot decode video " + name + ": its header gives no frame size"};
    if (std::max(length.width, length.height) > opts.max_image_side)
      throw HttpError{422, "video " + name + " has frames of " + std::to_string(length.width) + "x" +
                               std::to_string(length.height) + ": the longest side may be at most " +
                               std::to_string(opts.max_image_side) + " pixels"};
    if (length.frames > opts.max_video_frames)
      throw HttpError{413, "video " + name + " has " + std::to_string(length.frames) + " frames: the limit is " +
                               std::to_string(opts.max_video_frames)};
    if (length.frames <= 0) {  // no length in the header (e.g. an AVI written through a pipe): count, bounded
      int64_t counted = 0;
      try {
        counted = count_video_frames(path, opts.max_video_frames + 1);
      } catch (const IoError&) {
        throw HttpError{400, unreadable};
      }
      if (counted > opts.max_video_frames)
        throw HttpError{413, "video " + name + " has more than " + std::to_string(opts.max_video_frames) +
                                 " frames (its header gives no length): the limit is " + std::to_string(opts.max_video_frames)};
      if (counted == 0) throw HttpError{400, "cannot decode video " + name + ": it has no readable frames"};
      length.frames = counted;
      if (length.fps > 0) length.seconds = static_cast<double>(counted) / length.fps;
    }
    if (length.seconds > opts.max_video_seconds) {
      char buf[200];
      std::snprintf(buf, sizeof buf, "video %s is %.1f s long: the limit is %.0f s", name.c_str(), length.seconds,
                    opts.max_video_seconds);
      throw HttpError{413, buf};
    }
    return length;
  }

  /// The answer for a scored video: to_json with the upload's name (not the temporary file's),
  /// heat maps of the faces that have maps (those of the highest-scoring frame), video and timing.
  static json video_json(detect::InputResult r, const std::string& temp_path, const std::string& name,
                         const json& video, const DetectRequest& rq, Clock::time_point t0) {
    r.apply_threshold(rq.threshold);
    r.path = name;
    auto rename = [&](std::string& text) {  // messages name the upload, not the temporary file
      for (size_t at; (at = text.find(temp_path)) != std::string::npos;) text.replace(at, temp_path.size(), name);
    };
    rename(r.error);
    for (auto& w : r.warnings) rename(w);
    // A video that cannot be read is a bad upload, whether its header already said so or its frames did.
    if (r.status == "unreadable") throw HttpError{400, "cannot decode video " + r.error};
    json j = r.to_json();
    if (rq.heatmap)
      for (size_t i = 0; i < r.faces.size() && i < j["faces"].size(); ++i)
        if (!r.faces[i].gradcam.empty())
          j["faces"][i]["heatmap_png"] = base64_encode(detect::encode_png(detect::render_heatmap(r.faces[i], rq.threshold)));
    j["video"] = video;
    j["timing"] = {{"decode_ms", round_ms(r.timing.decode_ms)},
                   {"face_ms", round_ms(r.timing.face_ms)},
                   {"model_ms", round_ms(r.timing.model_ms)},
                   {"total_ms", round_ms(ms_since(t0))}};
    return j;
  }
};

Server::Server(sola::Detector model, ServeOptions options)
    : impl_(std::make_unique<Impl>(std::move(model), std::move(options))) {}

Server::~Server() { stop(); }

int Server::start() {
  Impl& s = *impl_;
  if (s.started) throw Error("the server was started already");
  const std::string where = s.opts.host + ":" + std::to_string(s.opts.port);
  int port = -1;
  errno = 0;
  if (s.opts.port == 0) {
    port = s.http.bind_to_any_port(s.opts.host);
  } else if (s.http.bind_to_port(s.opts.host, s.opts.port)) {
    port = s.opts.port;
  }
  if (port <= 0)
    throw Error("cannot listen on " + where + ": " +
                (errno ? std::string(std::strerror(errno)) : "not a local address, or not permitted"));
  s.port = port;
  s.started = true;
  s.thread = std::thread([&s] {
    s.http.listen_after_bind();
    s.thread_done = true;
  });
  // stop() only reaches a server that is inside its accept loop: wait until it is.
  while (!s.http.is_running() && !s.thread_done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return port;
}

void Server::stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->stop_mutex);
    if (impl_->http.is_running()) impl_->http.stop();
  }
  wait();
}

void Server::wait() {
  std::lock_guard<std::mutex> lock(impl_->join_mutex);
  if (impl_->thread.joinable()) impl_->thread.join();
}

bool Server::running() const { return impl_->started && !impl_->thread_done; }

int Server::port() const { return impl_->port; }

const ServeOptions& Server::options() const { return impl_->opts; }

}  // namespace sola::serve
