#pragma once
// `sola serve`: an HTTP server around the detection library (cpp-httplib).
//
//   sola::serve::Server server(sola::load_model(path).model, {});
//   int port = server.start();   // listens in a background thread
//   ...
//   server.stop();
//
// server.cpp routes and answers; beside it serve/request.h reads and checks a detect request,
// serve/detector_pool.h holds the detection slots, serve/gate.h the connections, and
// serve/video_upload.h what a video upload needs.
//
// Routes (nothing else is served: no static files, so no path can reach the file system):
//   GET  /            the web page (drop an image, see score, label and heat maps)
//   GET  /healthz     {"status":"ok","version","torch","model":{arch,backbone,input_size,grid},
//                     "limits":{max_upload_bytes,max_video_bytes,max_video_seconds,max_video_frames,max_image_side,
//                     max_in_flight,threads,max_connections,max_queued,
//                     header_timeout_s,request_timeout_s},"in_flight","connections":{open,waiting_for_header,
//                     queued,busy,accepted,refused_busy,timed_out},"threshold","crops"}
//   POST /v1/detect   multipart/form-data field "image" (or "video"), or a raw body with Content-Type
//                     image/* or video/*; options as query or form fields: threshold=0.5, crops=0|1,
//                     heatmap=0|1, progress=0|1.
//                     Images: InputResult::to_json() plus "image":{width,height,bytes} and
//                     "timing":{decode_ms,detect_ms,total_ms}; with heatmap=1 every face has
//                     "heatmap_png" (base64 PNG of detect::render_heatmap). "No face found" is a
//                     200 answer with status "no_face".
//                     Videos (MP4, MOV, WebM, AVI, told by their first bytes): to_json() with the
//                     per-frame "timeline" and the "aggregation", plus "video":{format,bytes,frames,fps,
//                     duration_s,width,height} and "timing":{decode_ms,face_ms,model_ms,total_ms}; with heatmap=1 the
//                     faces of the highest-scoring frame have "heatmap_png". With progress=1 the answer is
//                     streamed as JSON lines (application/x-ndjson): {"progress":{"frames_done","frames_total"}}
//                     after each sampled frame, then the result as above (or {"error":...}) as the last line.
// One request per connection (Connection: close). Format and sides are read from the header before
// a detection slot is taken; decoding and detection happen inside one.
// Every error is JSON {"error": "..."}: 400 bad request / undecodable image, 404 unknown route,
// 405 wrong method, 411 chunked upload (a Content-Length is required), 413 body too large,
// 415 unsupported Content-Type or Content-Encoding, or a video container other than MP4, MOV, WebM
// and AVI (told by the bytes: an image named clip.mp4 is an image), 413 also for a video longer than
// max_video_seconds or with more than max_video_frames frames (a header without a plausible length:
// the frames are counted, up to the limit), 422 image or video frame side above the limit (a video's
// from its stream header), 400 also for a video with no readable frame, 408 an upload that stalls
// (read timeout) or is not complete at request_timeout_s, 503 busy (all max_in_flight detection slots
// taken; Retry-After: 1), 500 anything unexpected. A video detection stops when its client closes the
// connection (its slot is free at the next frame).
// Connections (serve/gate.h): a connection waits for its request header in a poller thread, not a
// worker, and must send the whole header within header_timeout_s (else 408) and header and body
// within request_timeout_s (else it is dropped), however slowly it trickles; each socket read and
// write also has its own timeout. Beyond max_connections open connections, or max_queued complete
// requests waiting for one of `threads` workers, the answer is 503 with Retry-After: 1.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "data/image_header.h"
#include "detect/detect.h"

namespace sola::serve {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                          ///< 0: any free port (start() returns the one bound)
  size_t max_upload_bytes = 10u << 20;      ///< larger image uploads are answered 413 (never stored)
  size_t max_video_bytes = 100u << 20;      ///< larger video uploads are answered 413 (never stored)
  double max_video_seconds = 300;           ///< longer videos (by their header) are answered 413
  int64_t max_video_frames = 18000;         ///< videos with more frames are answered 413 (counted, bounded, when the header has no length)
  int max_image_side = 4096;                ///< larger images and video frames are answered 422, checked from the header before decoding
  int max_in_flight = 4;                    ///< detections at once; requests beyond get 503 with Retry-After
  int read_timeout_s = 10;                  ///< per socket read (a stalled client is dropped after this)
  int write_timeout_s = 10;                 ///< per socket write
  int threads = 16;                         ///< HTTP worker threads (each serves one connection at a time)
  int max_connections = 256;                ///< connections open at once; beyond: 503 with Retry-After
  int max_queued = 64;                      ///< complete requests waiting for a worker; beyond: 503 with Retry-After
  int header_timeout_s = 10;                ///< the request header must be complete this long after connecting (else 408)
  int request_timeout_s = 60;               ///< header and body must be complete this long after connecting
  bool log_requests = true;                 ///< one line per request on stderr: method path status ms
  detect::DetectOptions detect;             ///< per-request defaults (threshold, crops, face detector, ...)
  /// Test hook: called by a detect request while it holds a detection slot, before the image is
  /// decoded. Lets a test hold a slot deterministically; empty in production.
  std::function<void()> on_detect;
  /// Test hook: called by a video request after each sampled frame (frames done so far); empty in production.
  std::function<void(int64_t)> on_video_frame;

  /// Throws ConfigError naming the field and the bad value.
  void validate() const;
};

/// Width and height of an encoded image from its header (the one parser of data/image_header.h).
using data::ImageHeader;

/// The container of a video upload from its first bytes: "mp4", "mov", "webm", "avi" (accepted) or
/// "mkv", "flv", "wmv", "mpeg", "mpeg-ts" (recognised, refused); empty for anything else.
std::string probe_video_container(const std::string& bytes);

/// Standard base64 (RFC 4648, with padding).
std::string base64_encode(const std::string& bytes);

/// The web page served at GET / (self-contained HTML: no external resources).
const std::string& web_page();

/// An HTTP server for one model. Every detect request runs on one of max_in_flight
/// detect::Detector objects that share the model, one per detection slot (serve/detector_pool.h), with
/// the request's crops and heatmap as the call's options (LibTorch's intra-op threads are process-wide:
/// call sola::configure_threads before start, e.g. cores / max_in_flight).
class Server {
 public:
  /// Validates the options (ConfigError) and prepares the detectors; does not bind yet.
  Server(sola::Detector model, ServeOptions options);
  ~Server();  ///< stops the server if it is running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds host:port and serves in a background thread. Returns the bound port (the free one
  /// chosen when port is 0). Throws sola::Error naming host:port when it cannot bind, and
  /// when called twice.
  int start();
  /// Stops accepting, lets requests in progress finish, joins the thread. Idempotent.
  void stop();
  /// Blocks until the server thread ends (after stop(), or when listening fails).
  void wait();
  /// True between start() and the end of the server thread.
  bool running() const;

  int port() const;  ///< bound port; 0 before start()
  const ServeOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sola::serve
