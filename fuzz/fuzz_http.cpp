// libFuzzer target for the HTTP server (`sola serve`, src/serve/): every input is the raw bytes of
// one request, sent over a fresh TCP connection to one in-process sola::serve::Server (127.0.0.1,
// a free port, a tiny untrained model, small limits). The client reads the answer until the server
// closes; when none has begun 50 ms after sending, it half-closes, so that a server waiting for the
// rest of an incomplete request sees its end at once (cpp-httplib then closes without answering).
//
// A finding, besides a crash or an ASan/UBSan report in the server's threads:
//   - an answer that is not HTTP (bytes came back that do not start with "HTTP/1.1 NNN "),
//   - a 5xx other than 503 (500 means an exception escaped a handler),
//   - the server no longer accepting connections or answering GET /healthz (checked every 1000 inputs).
// Each aborts with the request printed; libFuzzer saves the input. cpp-httplib itself is Debian's
// shared library, not instrumented: coverage guides through src/serve/ (and what it calls) only.
// Build and run with scripts/fuzz.sh; see fuzz/README.md.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include <opencv2/core/utility.hpp>
#include <torch/utils.h>  // torch::set_num_threads

#include "core/error.h"
#include "model/options.h"
#include "model/sola_net.h"
#include "serve/server.h"

namespace {

/// Seconds the client waits for each read of the answer before giving up on it.
constexpr int kClientTimeoutS = 2;
/// Milliseconds the client waits for an answer to begin before it half-closes (see round_trip).
constexpr int kAnswerWaitMs = 50;
/// Inputs between two GET /healthz checks.
constexpr uint64_t kHealthEvery = 1000;

/// The server under test: started once per process, stopped (and joined) at exit.
std::unique_ptr<sola::serve::Server>& server() {
  static std::unique_ptr<sola::serve::Server> s;
  return s;
}

/// How the last answer ended: "closed" or the error of the last read (for the health check's report).
std::string& last_end() {
  static std::string end;
  return end;
}

/// `bytes` with control and non-ASCII bytes escaped (\r, \n, \xNN), at most `max` bytes shown.
std::string escaped(std::string_view bytes, size_t max = 2000) {
  std::string out;
  for (size_t i = 0; i < bytes.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c == '\r') out += "\\r";
    else if (c == '\n') out += "\\n\n";
    else if (c == '\\') out += "\\\\";
    else if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
    else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (bytes.size() > max) out += "... (" + std::to_string(bytes.size()) + " bytes)";
  return out;
}

/// Reports a finding with the request and the answer, then aborts (libFuzzer saves the input).
[[noreturn]] void finding(const std::string& what, std::string_view request, std::string_view answer) {
  std::fprintf(stderr, "\nfuzz_http: FINDING: %s\n--- request ---\n%s\n--- answer ---\n%s\n---\n", what.c_str(),
               escaped(request).c_str(), escaped(answer, 600).c_str());
  std::abort();
}

/// A TCP connection to 127.0.0.1:`port` with send and receive timeouts; -1 when connect fails.
int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{};
  tv.tv_sec = kClientTimeoutS;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// Sends `request` on a new connection and returns everything read until the server closes, resets
/// or stays silent for kClientTimeoutS. cpp-httplib 0.11.4 never answers a client that has shut down
/// its sending side (before writing it peeks at the socket and takes the end of input for a closed
/// connection), so the client half-closes only when no answer has begun within kAnswerWaitMs: the
/// server, waiting for the rest of an incomplete request, then sees its end at once instead of
/// after its read timeout. Connection failures are retried a few times (ephemeral ports, a full
/// backlog); a server that still refuses is a finding.
std::string round_trip(int port, std::string_view request) {
  int fd = -1;
  for (int attempt = 0; attempt < 20 && fd < 0; ++attempt) {
    fd = connect_to(port);
    if (fd < 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (fd < 0) finding(std::string("the server does not accept connections: ") + std::strerror(errno), request, "");
  // The server may answer early and close while the rest is being sent (EPIPE, ECONNRESET): not an
  // error; whatever it answered is still read below. MSG_NOSIGNAL: no SIGPIPE for this client.
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, kAnswerWaitMs) == 0) ::shutdown(fd, SHUT_WR);
  std::string answer;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {  // closed, reset or timed out
      last_end() = n == 0 ? "closed" : std::strerror(errno);
      break;
    }
    answer.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return answer;
}

/// Checks that `answer` (possibly empty or cut short: a reset may discard it) is an HTTP/1.1 response
/// whose status is not a 5xx other than 503; after a "100 Continue" the final response is checked too.
void check_answer(std::string_view request, const std::string& answer) {
  static const std::string kPrefix = "HTTP/1.1 ";
  size_t at = 0;  // start of the response being checked
  while (at < answer.size()) {
    const std::string_view rest = std::string_view(answer).substr(at);
    if (rest.size() < kPrefix.size()) {
      if (kPrefix.compare(0, rest.size(), rest) != 0) finding("the answer is not HTTP", request, answer);
      return;  // cut short by a reset: nothing more to check
    }
    if (rest.compare(0, kPrefix.size(), kPrefix) != 0) finding("the answer is not HTTP", request, answer);
    if (rest.size() < kPrefix.size() + 4) return;  // cut short inside the status line
    const std::string code(rest.substr(kPrefix.size(), 3));
    if (code.find_first_not_of("0123456789") != std::string::npos || rest[kPrefix.size() + 3] != ' ')
      finding("the status line has no 3-digit status", request, answer);
    const int status = std::stoi(code);
    if (status < 100 || status > 599) finding("status " + code + " is not an HTTP status", request, answer);
    if (status >= 500 && status != 503)
      finding("status " + code + (status == 500 ? " (an exception escaped a handler)" : ""), request, answer);
    if (status != 100) return;
    const size_t end = rest.find("\r\n\r\n");  // an interim response has no body
    if (end == std::string_view::npos) return;
    at += end + 4;
  }
}

/// GET /healthz must answer 200 with "status":"ok" (three tries, for workers still busy with a
/// detection whose client gave up).
void check_health(int port, std::string_view last_request) {
  static const std::string kRequest = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  std::string answer;
  for (int attempt = 0; attempt < 3; ++attempt) {
    answer = round_trip(port, kRequest);
    if (answer.rfind("HTTP/1.1 200 ", 0) == 0 && answer.find("\"status\":\"ok\"") != std::string::npos) return;
  }
  finding("GET /healthz does not answer 200 ok after this input (or one before it); last read: " + last_end(),
          last_request, answer);
}

}  // namespace

/// One thread for LibTorch and OpenCV (the fuzzing jobs already use every core); starts the server.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  torch::set_num_threads(1);
  cv::setNumThreads(0);
  try {
    sola::serve::ServeOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.max_upload_bytes = 64 << 10;
    o.max_image_side = 256;
    o.max_in_flight = 2;
    o.threads = 2;
    o.read_timeout_s = 1;
    o.write_timeout_s = 1;
    o.log_requests = false;
    o.detect.crops = true;  // a request may still ask crops=0: the face detector runs then
    const auto model = sola::build_model(
        sola::ModelOptions{}.input_size(32).grid(4).anomaly_channels(8).classifier_channels(8));
    server() = std::make_unique<sola::serve::Server>(model, o);
    server()->start();
  } catch (const sola::Error& e) {
    std::fprintf(stderr, "fuzz_http: cannot start the server: %s\n", e.what());
    std::exit(2);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static uint64_t inputs = 0;
  const int port = server()->port();
  const std::string_view request(reinterpret_cast<const char*>(data), size);
  check_answer(request, round_trip(port, request));
  if (++inputs % kHealthEvery == 0) check_health(port, request);
  return 0;
}
