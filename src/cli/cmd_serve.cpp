// sola serve: the detector behind an HTTP server with a web page (src/serve/server.h). Stops on
// SIGINT/SIGTERM after the requests in progress.
#include <csignal>
#include <cstring>
#include <ctime>
#include <iostream>

#include <pthread.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "eval/calibration.h"
#include "core/error.h"
#include "core/runtime.h"
#include "detect/detect.h"
#include "model/checkpoint.h"
#include "serve/server.h"

namespace sola::cli {
namespace {

struct ServeArgs {
  std::string model_file;
  serve::ServeOptions server;
  double max_upload_mb = 10;
  double max_video_mb = 100;
  int torch_threads = 0;
  int timeout_s = 10;
  double scale = 0;
  std::string precision = "auto";
};

std::string url_host(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;  // IPv6 literal
}

int run_serve(ServeArgs& args) {
  // Block the stop signals before any thread exists, so that every thread inherits the mask and
  // sigtimedwait below is the only place they arrive.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  serve::ServeOptions& opts = args.server;
  opts.max_upload_bytes = static_cast<size_t>(args.max_upload_mb * 1024.0 * 1024.0);
  opts.max_video_bytes = static_cast<size_t>(args.max_video_mb * 1024.0 * 1024.0);
  opts.read_timeout_s = opts.write_timeout_s = args.timeout_s;
  opts.validate();
  const std::string path = args.model_file.empty() ? detect::default_model_path() : args.model_file;
  LoadedModel loaded = load_model(path);
  // The framing the model learned: its crop_scale (sola train measures it), --scale, else 2.6.
  const detect::CropScaleChoice crop = detect::choose_crop_scale(args.scale, loaded.metadata);
  opts.detect.crop_scale = static_cast<float>(crop.scale);
  std::cerr << "sola serve: " << crop.describe() << "\n";
  if (!crop.warning.empty()) std::cerr << "sola serve: warning: " << crop.warning << "\n";
  opts.detect.bf16 = resolve_inference_precision(args.precision, "sola serve").bf16();
  opts.detect.calibration = eval::calibration_from_json(loaded.metadata.value("calibration", nlohmann::json()), path);
  // Intra-op threads are shared by all detections at once: split the cores between them.
  const int threads = configure_threads(args.torch_threads > 0 ? args.torch_threads
                                                               : std::max(1, available_cores() / opts.max_in_flight));
  serve::Server server(loaded.model, opts);
  const int port = server.start();
  const auto& m = loaded.options;
  std::cerr << "sola serve: model " << path << " (" << m.arch() << " " << m.backbone() << ", input " << m.input_size()
            << ", grid " << m.grid() << "), " << opts.max_in_flight << " detections at once, " << threads
            << " LibTorch thread(s) each, " << opts.threads << " HTTP threads\n"
            << "sola serve: listening on http://" << url_host(opts.host) << ":" << port << std::endl;

  int signal = 0;
  while (server.running()) {
    const timespec poll{0, 200 * 1000 * 1000};
    const int got = sigtimedwait(&stop_signals, nullptr, &poll);
    if (got == SIGINT || got == SIGTERM) {
      signal = got;
      break;
    }
  }
  if (!signal) {
    std::cerr << "sola serve: error: the server stopped accepting connections on port " << port << "\n";
    server.stop();
    return kFailure;
  }
  std::cerr << "sola serve: " << strsignal(signal) << ": stopping after the requests in progress\n";
  server.stop();
  std::cerr << "sola serve: stopped" << std::endl;
  return kOk;
}

}  // namespace

void setup_serve(CLI::App& app) {
  auto args = std::make_shared<ServeArgs>();
  serve::ServeOptions& o = args->server;
  auto* sub = app.add_subcommand("serve", "Serve the detector over HTTP: a web page at / and POST /v1/detect (JSON)");
  sub->add_option("--model", args->model_file,
                  "saved model file (default: $SOLA_MODEL, then models/sola-dfdc.pt next to the program)");
  sub->add_option("--host", o.host, "address to listen on (0.0.0.0: every interface)")->capture_default_str();
  sub->add_option("--port", o.port, "port to listen on (0: any free port, printed at start)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  sub->add_option("--max-upload-mb", args->max_upload_mb, "largest image upload in MiB (larger: 413)")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 1024.0));
  sub->add_option("--max-video-mb", args->max_video_mb, "largest video upload in MiB (larger: 413)")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 4096.0));
  sub->add_option("--max-video-seconds", o.max_video_seconds,
                  "longest video in seconds, from its header (longer: 413; decoding time grows with the length)")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 86400.0));
  sub->add_option("--max-video-frames", o.max_video_frames,
                  "most frames in a video, from its header or, where it gives none, counted up to this (more: 413; "
                  "decoding reads every frame up to the last one sampled)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{100000000}));
  sub->add_option("--max-side", o.max_image_side,
                  "largest image or video frame side in pixels, read from the header (larger: 422)")
      ->capture_default_str()
      ->check(CLI::Range(16, 65535));
  sub->add_option("--max-in-flight", o.max_in_flight, "detections at once (more requests: 503 with Retry-After)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  sub->add_option("--threads", o.threads, "HTTP worker threads (each serves one connection at a time)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  sub->add_option("--max-connections", o.max_connections,
                  "connections open at once, slow ones included (more: 503 with Retry-After)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  sub->add_option("--max-queued", o.max_queued, "complete requests waiting for a free HTTP thread (more: 503 with Retry-After)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  sub->add_option("--header-timeout", o.header_timeout_s,
                  "seconds from connecting to the end of the request header, however slowly it comes (then 408)")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  sub->add_option("--request-timeout", o.request_timeout_s,
                  "seconds from connecting to the end of the upload (then the connection is dropped)")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400));
  sub->add_option("--torch-threads", args->torch_threads,
                  "LibTorch threads per detection (0: the cores divided by --max-in-flight)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  sub->add_option("--scale", args->scale, "face crop side as a multiple of the face box (0: the model's, from its metadata; 2.6 as in the "
                                         "paper when it has none)")
      ->capture_default_str();
  sub->add_option("--threshold", o.detect.threshold, "default score threshold for the label 'fake'")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  sub->add_flag("--crops", o.detect.crops, "uploads are face crops by default (no face detection)");
  add_precision_option(sub, args->precision);
  sub->add_option("--timeout", args->timeout_s, "seconds a socket read or write may stall before the client is dropped")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  sub->add_flag("!--no-log", o.log_requests, "do not log one line per request on stderr");
  sub->callback([args] {
    if (int code = run_serve(*args); code != kOk) throw CLI::RuntimeError(code);
  });
}

}  // namespace sola::cli
