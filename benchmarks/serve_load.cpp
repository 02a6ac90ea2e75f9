// Load and abuse test of `sola serve`: concurrent clients send a mix of valid uploads and hostile
// requests (oversized bodies, malformed bytes, huge-dimension headers, stalled uploads, path
// traversal, broken HTTP) and every request must get the answer its kind calls for. Prints a JSON
// summary: requests, answers by kind and status, p50/p95 latency, and this process's peak RSS
// (VmHWM; with the in-process server that includes the server).
// First, the slow-client phase (--slow N, 0 to skip): N connections send a request header one byte a
// second and never finish it; while they are open, GET /healthz (20 times, one after the other) must
// answer 200 in under 1 s and valid uploads (10) must be served, and the server must then cut every
// slow connection with 408 at its header deadline (--header-timeout, 6 s here). Resident memory
// (VmRSS) is reported before, with the slow clients open, after the uploads and after the cut.
// Exit code 0 when every request was answered as expected, 1 otherwise, 2 for bad arguments.
//
//   sola_bench_serve_load [--clients 8] [--requests 400] [--seconds 50] [--model FILE] [--slow 64]
//                         [--max-in-flight 2] [--threads 16] [--header-timeout 6]  (in-process server, port 0)
//   sola_bench_serve_load --url http://127.0.0.1:8080 [--pid PID] [...]   (a running `sola serve`:
//                         its limits are read from /healthz; with --pid its peak RSS is reported)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "core/runtime.h"
#include "model/checkpoint.h"
#include "serve/server.h"

namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

struct Args {
  std::string url;  // empty: in-process server
  std::string model_file;
  int clients = 8;
  int requests = 400;
  double seconds = 50;
  int max_in_flight = 2;
  int threads = 16;
  int slow = 64;           // connections that trickle a header one byte a second (0: no slow phase)
  int header_timeout = 6;  // of the in-process server
  int pid = 0;  // with --url: the server's process, for its peak RSS
};

/// The kinds of request, how often each comes in a cycle of 20, and the statuses that are correct.
/// Status 0 means "the server closed the connection without an answer", correct only for a
/// stalled upload (dropped after the read timeout).
struct Kind {
  const char* name;
  int per_20;
  std::set<int> expected;
};
const std::vector<Kind> kKinds = {
    {"valid", 6, {200, 503}},          // multipart PNG upload (503 when every detection slot is busy)
    {"valid_heatmap", 2, {200, 503}},  // the same with heatmap=1
    {"healthz", 2, {200}},
    {"oversized", 2, {413}},           // body above max_upload_bytes
    {"malformed", 2, {400}},           // random bytes as image/png
    {"huge_dimensions", 1, {422}},     // PNG header claiming 100000 x 100000
    {"traversal", 2, {404}},           // /../etc/passwd and encoded variants
    {"bad_http", 1, {400}},            // not HTTP at all
    {"stalled", 1, {0, 408}},          // headers and part of the body, then silence (408 at the read timeout)
    {"trickle", 1, {0, 400, 408}},     // the request head one byte every 100 ms, then silence (408 at the header deadline)
};

struct Target {
  std::string host;
  int port = 0;
  size_t max_upload_bytes = 0;
  int read_timeout_s = 10;  // of the server: a stalled upload is dropped after this
};

struct Outcome {
  int status = -1;  // -1: no answer (transport error or client timeout)
  double ms = 0;
  std::string note;
};

std::string random_png(unsigned seed, int side) {
  cv::Mat img(side, side, CV_8UC3);
  cv::RNG rng(seed);
  rng.fill(img, cv::RNG::UNIFORM, 0, 255);
  cv::GaussianBlur(img, img, cv::Size(5, 5), 1.5);
  std::vector<uchar> bytes;
  cv::imencode(".png", img, bytes);
  return std::string(bytes.begin(), bytes.end());
}

std::string png_header(uint32_t w, uint32_t h) {
  std::string s("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 16);
  for (uint32_t v : {w, h})
    for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>((v >> shift) & 0xff);
  return s + std::string("\x08\x02\0\0\0\0\0\0\0", 9);
}

/// One raw exchange on a new connection: sends `request` (stopping after `send_limit` bytes and then
/// waiting; one byte every `trickle_ms` when that is positive), reads until the server closes.
/// Status 0 when the server closed without an answer, -1 when nothing happened before `timeout_s`.
Outcome raw_exchange(const Target& t, const std::string& request, size_t send_limit, int timeout_s,
                     int trickle_ms = 0) {
  Outcome o;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return {-1, 0, "socket failed"};
  timeval tv{timeout_s, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(t.port));
  if (inet_pton(AF_INET, t.host.c_str(), &addr.sin_addr) != 1) {
    ::close(fd);
    return {-1, 0, "host must be an IPv4 address"};
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return {-1, 0, std::string("connect: ") + std::strerror(errno)};
  }
  const size_t total = std::min(send_limit, request.size());
  size_t sent = 0;
  while (sent < total) {
    const size_t chunk = trickle_ms > 0 ? 1 : total - sent;
    const ssize_t n = ::send(fd, request.data() + sent, chunk, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
    if (trickle_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(trickle_ms));
  }
  std::string text;
  std::array<char, 4096> buf{};
  bool closed = false;
  for (;;) {
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n > 0) {
      text.append(buf.data(), static_cast<size_t>(n));
      continue;
    }
    closed = n == 0 || errno == ECONNRESET;
    break;
  }
  ::close(fd);
  if (text.rfind("HTTP/1.1 ", 0) == 0) {
    o.status = std::atoi(text.c_str() + 9);
  } else if (closed) {
    o.status = 0;
  } else {
    o.note = "no answer within " + std::to_string(timeout_s) + " s";
  }
  return o;
}

Outcome run_request(const Target& t, const std::string& kind, size_t index) {
  const auto t0 = Clock::now();
  Outcome o;
  auto client = [&t] {
    auto c = std::make_unique<httplib::Client>(t.host, t.port);
    c->set_connection_timeout(10, 0);
    c->set_read_timeout(60, 0);
    c->set_write_timeout(60, 0);
    return c;
  };
  auto from = [&o](const httplib::Result& r) {
    if (r) {
      o.status = r->status;
    } else {
      o.note = httplib::to_string(r.error());
    }
  };
  if (kind == "valid" || kind == "valid_heatmap") {
    const std::string png = random_png(static_cast<unsigned>(index), 48 + static_cast<int>(index % 5) * 16);
    from(client()->Post(kind == "valid" ? "/v1/detect" : "/v1/detect?heatmap=1",
                        httplib::MultipartFormDataItems{{"image", png, "load.png", "image/png"}}));
  } else if (kind == "healthz") {
    from(client()->Get("/healthz"));
  } else if (kind == "oversized") {
    from(client()->Post("/v1/detect", std::string(t.max_upload_bytes + 1024, 'x'), "image/png"));
  } else if (kind == "malformed") {
    std::string junk(2000 + index % 3000, '\0');
    for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>((i * 2654435761u + index) >> 13);
    from(client()->Post("/v1/detect", junk, "image/png"));
  } else if (kind == "huge_dimensions") {
    from(client()->Post("/v1/detect", httplib::MultipartFormDataItems{
                                          {"image", png_header(100000, 100000), "huge.png", "image/png"}}));
  } else if (kind == "traversal") {
    static const char* kPaths[] = {"/../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/v1/detect/../../../etc/shadow",
                                   "/..%2f..%2fetc%2fpasswd", "//etc/passwd", "/static/../../etc/hosts"};
    const std::string path = kPaths[index % (sizeof kPaths / sizeof *kPaths)];
    o = raw_exchange(t, "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n", std::string::npos, 30);
  } else if (kind == "bad_http") {
    o = raw_exchange(t, "\x16\x03\x01 definitely not http\r\n\r\n", std::string::npos, 30);
  } else if (kind == "stalled") {
    const std::string head = "POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 5000\r\n\r\n";
    o = raw_exchange(t, head + std::string(5000, 'x'), head.size() + 100, t.read_timeout_s + 30);
  } else if (kind == "trickle") {
    const std::string head = "POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 5000\r\n";
    o = raw_exchange(t, head, 20, t.read_timeout_s + 30, 100);  // 2 s of trickling, then silence
  }
  o.ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  return o;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  return std::round(v[i] * 10) / 10;
}

/// A memory figure of /proc/<pid>/status ("self" for this process) in MiB: `field` "VmHWM" (peak
/// resident) or "VmRSS" (resident now); 0 when unreadable.
double status_mib(const std::string& field, const std::string& pid = "self") {
  std::ifstream in("/proc/" + pid + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return std::atof(line.c_str() + field.size() + 1) / 1024.0;
  return 0;
}
double peak_rss_mib(const std::string& pid = "self") { return status_mib("VmHWM", pid); }
double rss_mib(const std::string& pid = "self") { return status_mib("VmRSS", pid); }

double round1(double v) { return std::round(v * 10) / 10; }

/// The slow-client phase (see the top of the file). Returns its summary; "ok" says whether it passed.
json slow_client_phase(const Target& t, int n, const std::string& pid, double limit_s) {
  const double rss_before = rss_mib(pid);
  struct Slow {
    int fd = -1;
    int status = -1;  // the answer that ended it (408 expected); 0: closed without one
    double cut_s = 0;
  };
  std::vector<Slow> slow(static_cast<size_t>(n));
  for (auto& c : slow) {
    c.fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(t.port));
    inet_pton(AF_INET, t.host.c_str(), &addr.sin_addr);
    if (::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(c.fd);
      c.fd = -1;
    }
  }
  const auto start = Clock::now();
  std::atomic<bool> done{false};
  // One byte a second on every connection, and a non-blocking look for the server's answer.
  std::thread trickler([&] {
    const std::string head = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(200, 'a');
    for (size_t i = 0; !done && std::chrono::duration<double>(Clock::now() - start).count() < limit_s; ++i) {
      bool open = false;
      for (auto& c : slow) {
        if (c.fd < 0 || c.status >= 0) continue;
        std::array<char, 512> buf{};
        const ssize_t got = ::recv(c.fd, buf.data(), buf.size(), MSG_DONTWAIT);
        if (got >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
          const std::string text(buf.data(), got > 0 ? static_cast<size_t>(got) : 0);
          c.status = text.rfind("HTTP/1.1 ", 0) == 0 ? std::atoi(text.c_str() + 9) : 0;
          c.cut_s = std::chrono::duration<double>(Clock::now() - start).count();
          continue;
        }
        open = true;
        ::send(c.fd, head.data() + (i % head.size()), 1, MSG_NOSIGNAL);
      }
      if (!open && i > 0) return;
      for (int k = 0; k < 10 && !done; ++k) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // all of them connected and trickling
  const double rss_open = rss_mib(pid);  // the slow clients open, nothing detected yet
  std::vector<double> health_ms;
  std::map<std::string, int> health_statuses, valid_statuses;
  for (int i = 0; i < 20; ++i) {
    const Outcome o = run_request(t, "healthz", static_cast<size_t>(i));
    health_ms.push_back(o.ms);
    health_statuses[o.status < 0 ? "no_answer" : std::to_string(o.status)]++;
  }
  std::vector<double> valid_ms;
  for (int i = 0; i < 10; ++i) {
    const Outcome o = run_request(t, "valid", static_cast<size_t>(i));
    valid_ms.push_back(o.ms);
    valid_statuses[o.status < 0 ? "no_answer" : std::to_string(o.status)]++;
  }
  const double rss_uploads = rss_mib(pid);  // after the first detections (the model's buffers)
  int open_during = 0;
  for (const auto& c : slow) open_during += c.fd >= 0 && c.status < 0;
  trickler.join();  // returns once the server has cut every slow connection (or after limit_s)
  done = true;
  std::map<std::string, int> cut_statuses;
  std::vector<double> cut_s;
  for (auto& c : slow) {
    cut_statuses[c.status < 0 ? "not_cut" : c.status == 0 ? "closed" : std::to_string(c.status)]++;
    cut_s.push_back(c.cut_s);
    if (c.fd >= 0) ::close(c.fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const double health_max = percentile(health_ms, 1.0);
  auto count = [](const std::map<std::string, int>& m, const char* k) { return m.count(k) ? m.at(k) : 0; };
  const bool ok = count(health_statuses, "200") == 20 && health_max < 1000 && count(valid_statuses, "200") >= 1 &&
                  count(valid_statuses, "200") + count(valid_statuses, "503") == 10 && count(cut_statuses, "408") == n &&
                  open_during == n;
  return json{{"connections", n},
              {"open_while_measuring", open_during},
              {"healthz", {{"statuses", health_statuses}, {"p50_ms", percentile(health_ms, 0.5)}, {"max_ms", health_max}}},
              {"valid", {{"statuses", valid_statuses}, {"p50_ms", percentile(valid_ms, 0.5)}, {"max_ms", percentile(valid_ms, 1.0)}}},
              {"slow_cut", {{"statuses", cut_statuses}, {"after_s_min", round1(*std::min_element(cut_s.begin(), cut_s.end()))},
                            {"after_s_max", round1(*std::max_element(cut_s.begin(), cut_s.end()))}}},
              {"rss_mib", {{"before", round1(rss_before)}, {"slow_clients_open", round1(rss_open)},
                           {"after_uploads", round1(rss_uploads)}, {"after_slow_clients_cut", round1(rss_mib(pid))}}},
              {"ok", ok}};
}

bool parse_args(int argc, char** argv, Args& a) {
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(k + " needs a value");
      return argv[++i];
    };
    if (k == "--url") a.url = value();
    else if (k == "--model") a.model_file = value();
    else if (k == "--clients") a.clients = std::stoi(value());
    else if (k == "--requests") a.requests = std::stoi(value());
    else if (k == "--seconds") a.seconds = std::stod(value());
    else if (k == "--max-in-flight") a.max_in_flight = std::stoi(value());
    else if (k == "--threads") a.threads = std::stoi(value());
    else if (k == "--pid") a.pid = std::stoi(value());
    else if (k == "--slow") a.slow = std::stoi(value());
    else if (k == "--header-timeout") a.header_timeout = std::stoi(value());
    else throw std::invalid_argument("unknown option " + k);
  }
  if (a.clients < 1 || a.requests < 1 || a.seconds <= 0 || a.max_in_flight < 1 || a.threads < 1 || a.header_timeout < 1)
    throw std::invalid_argument("--clients, --requests, --seconds, --max-in-flight, --threads and --header-timeout must be positive");
  if (a.slow < 0 || a.slow > 512) throw std::invalid_argument("--slow must be in [0, 512]");
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  try {
    parse_args(argc, argv, args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sola_bench_serve_load: %s\n", e.what());
    return 2;
  }

  Target target;
  std::unique_ptr<sola::serve::Server> server;
  if (args.url.empty()) {
    sola::serve::ServeOptions o;
    o.port = 0;
    o.max_upload_bytes = 2u << 20;
    o.read_timeout_s = o.write_timeout_s = 2;
    o.max_in_flight = args.max_in_flight;
    o.threads = args.threads;
    o.header_timeout_s = args.header_timeout;
    o.log_requests = false;
    o.detect.crops = true;  // no face detector: every upload is a face crop
    sola::configure_threads(std::max(1, sola::available_cores() / o.max_in_flight));
    torch::manual_seed(0);
    sola::Detector model = args.model_file.empty()
                               ? sola::build_model(sola::ModelOptions{}.input_size(64).grid(8))
                               : sola::load_model(args.model_file).model;
    server = std::make_unique<sola::serve::Server>(model, o);
    target = {"127.0.0.1", server->start(), o.max_upload_bytes, o.read_timeout_s};
  } else {
    const std::string prefix = "http://";
    const std::string rest = args.url.rfind(prefix, 0) == 0 ? args.url.substr(prefix.size()) : args.url;
    const size_t colon = rest.rfind(':');
    if (colon == std::string::npos) {
      std::fprintf(stderr, "sola_bench_serve_load: --url must be http://IPV4:PORT\n");
      return 2;
    }
    target.host = rest.substr(0, colon);
    target.port = std::atoi(rest.c_str() + colon + 1);
    httplib::Client c(target.host, target.port);
    auto r = c.Get("/healthz");
    if (!r || r->status != 200) {
      std::fprintf(stderr, "sola_bench_serve_load: %s/healthz does not answer 200\n", args.url.c_str());
      return 1;
    }
    target.max_upload_bytes = json::parse(r->body)["limits"]["max_upload_bytes"].get<size_t>();
    target.read_timeout_s = 10;  // sola serve's default --timeout
  }

  json slow_phase;
  if (args.slow > 0) {
    if (!args.url.empty() && args.pid <= 0) std::fprintf(stderr, "sola_bench_serve_load: without --pid the memory figures are this process's\n");
    slow_phase = slow_client_phase(target, args.slow, args.url.empty() || args.pid <= 0 ? "self" : std::to_string(args.pid),
                                    args.header_timeout + 20.0);
  }

  // One cycle of 20 requests, the kinds interleaved (round-robin by kind, not in blocks).
  std::vector<std::string> mixed;
  for (int round = 0; mixed.size() < 20; ++round)
    for (const auto& k : kKinds)
      if (round < k.per_20) mixed.push_back(k.name);

  struct Record {
    std::string kind;
    Outcome outcome;
  };
  std::vector<Record> records;
  std::mutex records_mutex;
  std::atomic<size_t> next{0};
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(args.seconds));
  std::vector<std::thread> clients;
  for (int c = 0; c < args.clients; ++c) {
    clients.emplace_back([&] {
      for (;;) {
        if (Clock::now() >= deadline) return;
        const size_t i = next++;
        if (i >= static_cast<size_t>(args.requests)) return;
        const std::string& kind = mixed[i % mixed.size()];
        Outcome o = run_request(target, kind, i);
        std::lock_guard<std::mutex> lock(records_mutex);
        records.push_back({kind, std::move(o)});
      }
    });
  }
  for (auto& t : clients) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  // The server must still answer normally after all of it.
  bool healthy = false;
  {
    httplib::Client c(target.host, target.port);
    auto r = c.Get("/healthz");
    healthy = r && r->status == 200;
  }
  if (server) server->stop();

  json by_kind = json::object();
  std::vector<double> all_ms;
  size_t unanswered = 0, unexpected = 0;
  std::vector<std::string> problems;
  for (const auto& k : kKinds) {
    std::vector<double> ms;
    std::map<std::string, int> statuses;
    int bad = 0;
    for (const auto& r : records) {
      if (r.kind != k.name) continue;
      ms.push_back(r.outcome.ms);
      statuses[r.outcome.status < 0 ? "no_answer" : r.outcome.status == 0 ? "closed" : std::to_string(r.outcome.status)]++;
      if (r.outcome.status < 0) ++unanswered;
      if (!k.expected.count(r.outcome.status)) {
        ++bad;
        if (problems.size() < 10)
          problems.push_back(std::string(k.name) + ": status " + std::to_string(r.outcome.status) +
                             (r.outcome.note.empty() ? "" : " (" + r.outcome.note + ")"));
      }
    }
    unexpected += static_cast<size_t>(bad);
    all_ms.insert(all_ms.end(), ms.begin(), ms.end());
    by_kind[k.name] = {{"requests", ms.size()}, {"statuses", statuses}, {"unexpected", bad},
                       {"p50_ms", percentile(ms, 0.5)}, {"p95_ms", percentile(ms, 0.95)}};
  }
  const bool ok = unanswered == 0 && unexpected == 0 && healthy && !records.empty() &&
                  (slow_phase.is_null() || slow_phase["ok"].get<bool>());
  json summary{{"target", args.url.empty() ? "in-process" : args.url},
               {"clients", args.clients},
               {"requests", records.size()},
               {"seconds", std::round(elapsed * 100) / 100},
               {"requests_per_s", std::round(static_cast<double>(records.size()) / elapsed * 10) / 10},
               {"unanswered", unanswered},
               {"unexpected", unexpected},
               {"healthy_after", healthy},
               {"latency_ms", {{"p50", percentile(all_ms, 0.5)}, {"p95", percentile(all_ms, 0.95)},
                               {"max", percentile(all_ms, 1.0)}}},
               {"by_kind", by_kind},
               {"peak_rss_mib", std::round(peak_rss_mib() * 10) / 10},  // this process (+ the in-process server)
               {"problems", problems},
               {"slow_clients", slow_phase},
               {"ok", ok}};
  if (args.pid > 0) summary["server_peak_rss_mib"] = std::round(peak_rss_mib(std::to_string(args.pid)) * 10) / 10;
  std::printf("%s\n", summary.dump(2).c_str());
  return ok ? 0 : 1;
}
