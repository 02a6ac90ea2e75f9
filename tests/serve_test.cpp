// sola serve: routes, uploads, limits and errors of the HTTP server (in-process, on a free port,
// with a small untrained model), the in-flight limit, and the web page in headless Chromium.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "core/error.h"
#include "face_clips.h"
#include "serve/detector_pool.h"
#include "serve/server.h"
#include "test_util.h"

namespace sola {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using serve::Server;
using serve::ServeOptions;

const std::string kOneFace = "/usr/share/doc/libdlib19.1/examples/faces/Tom_Cruise_avp_2014_4.jpg";

/// The small untrained model of these tests (input 64, grid 8), built once.
Detector small_model() {
  static Detector model = [] {
    torch::manual_seed(11);
    return build_model(ModelOptions{}.input_size(64).grid(8));
  }();
  return model;
}

/// Options of the test servers: any free port, crops (no face detector needed), small limits.
ServeOptions test_options() {
  ServeOptions o;
  o.port = 0;
  o.max_upload_bytes = 1 << 20;
  o.max_image_side = 1024;
  o.read_timeout_s = 2;
  o.write_timeout_s = 2;
  o.detect.crops = true;
  o.log_requests = false;
  return o;
}

/// A textured w x h image encoded as `ext` (".png", ".jpg", ...).
std::string encoded(int w, int h, const std::string& ext = ".png", unsigned seed = 1) {
  cv::Mat img(h, w, CV_8UC3);
  cv::theRNG().state = seed;
  cv::randu(img, cv::Scalar::all(0), cv::Scalar::all(255));
  cv::GaussianBlur(img, img, cv::Size(5, 5), 1.5);
  std::vector<uchar> bytes;
  EXPECT_TRUE(cv::imencode(ext, img, bytes)) << ext;
  return std::string(bytes.begin(), bytes.end());
}

std::string base64_decode(const std::string& text) {
  static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    const size_t v = alphabet.find(c);
    if (v == std::string::npos) return {};
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}


struct RawResponse {
  int status = 0;
  std::string head, body;
};

/// A raw loopback connection to `port` (no request sent yet); -1 when it cannot connect.
int connect_raw(int port, int timeout_s = 10) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  timeval tv{timeout_s, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// Reads what the server sends on `fd` until it closes the connection (or the receive timeout).
RawResponse read_answer(int fd) {
  std::string text;
  std::array<char, 4096> buf{};
  ssize_t n;
  while ((n = ::recv(fd, buf.data(), buf.size(), 0)) > 0) text.append(buf.data(), static_cast<size_t>(n));
  RawResponse r;
  const size_t split = text.find("\r\n\r\n");
  r.head = text.substr(0, split);
  if (split != std::string::npos) r.body = text.substr(split + 4);
  if (text.rfind("HTTP/1.1 ", 0) == 0) r.status = std::atoi(text.c_str() + 9);
  return r;
}

/// Sends `request` as is on a new connection and reads until the server closes it (the server
/// serves one request per connection).
RawResponse raw_request(int port, const std::string& request, int timeout_s = 10) {
  const int fd = connect_raw(port, timeout_s);
  if (fd < 0) return {};
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  RawResponse r = read_answer(fd);
  ::close(fd);
  return r;
}

/// The "error" of a JSON error body ("(not a JSON error)" otherwise).
std::string error_of(const std::string& body) {
  try {
    return json::parse(body).at("error").get<std::string>();
  } catch (const std::exception&) {
    return "(not a JSON error: " + body.substr(0, 200) + ")";
  }
}

class ServeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new Server(small_model(), test_options());
    port_ = server_->start();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void TearDown() override { expect_healthy(); }

  static httplib::Client client() {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(60, 0);
    c.set_write_timeout(60, 0);
    return c;
  }
  static httplib::Result post_image(const std::string& bytes, const std::string& query = "",
                                    const std::string& name = "face.png") {
    return client().Post(("/v1/detect" + query).c_str(),
                         httplib::MultipartFormDataItems{{"image", bytes, name, "image/png"}});
  }
  /// The server still answers (checked after every test, whatever it did to the server).
  static void expect_healthy() {
    auto res = client().Get("/healthz");
    ASSERT_TRUE(res) << "no answer from /healthz: " << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 200);
  }

  static Server* server_;
  static int port_;
};
Server* ServeTest::server_ = nullptr;
int ServeTest::port_ = 0;

// ---- routes ---------------------------------------------------------------------------------

TEST_F(ServeTest, HealthzDescribesTheModelAndLimits) {
  EXPECT_GT(port_, 0);
  EXPECT_EQ(server_->port(), port_);
  EXPECT_TRUE(server_->running());
  auto res = client().Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  auto j = json::parse(res->body);
  EXPECT_EQ(j["status"], "ok");
  EXPECT_EQ(j["version"], SOLA_VERSION);
  EXPECT_EQ(j["model"]["arch"], "sola");
  EXPECT_EQ(j["model"]["input_size"], 64);
  EXPECT_EQ(j["model"]["grid"], 8);
  EXPECT_EQ(j["limits"]["max_upload_bytes"], 1 << 20);
  EXPECT_EQ(j["limits"]["max_image_side"], 1024);
  EXPECT_EQ(j["in_flight"], 0);
}

TEST_F(ServeTest, PageIsSelfContainedHtml) {
  auto res = client().Get("/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/html; charset=utf-8");
  for (const char* needle : {"id=\"file\"", "id=\"error\"", "/v1/detect", "heatmap", "id = \"score\""})
    EXPECT_NE(res->body.find(needle), std::string::npos) << needle;
  // The SVG namespace is an identifier (createElementNS), never fetched: it is the one URL allowed.
  std::string body = res->body;
  for (size_t at; (at = body.find("http://www.w3.org/2000/svg")) != std::string::npos;) body.erase(at, 26);
  for (const char* external : {"http://", "https://", "href=\"/", "src=\"/", "@import", "url("})
    EXPECT_EQ(body.find(external), std::string::npos) << external;
}

TEST_F(ServeTest, UnknownRoutesAndTraversalAttemptsAre404Json) {
  for (const char* path : {"/nope", "/../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/v1/detect/../../etc/passwd",
                           "/..%2f..%2fetc%2fpasswd", "//etc/passwd", "/index.html", "/healthz/"}) {
    auto r = raw_request(port_, std::string("GET ") + path + " HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(r.status, 404) << path << "\n" << r.head;
    EXPECT_NE(error_of(r.body).find("not found"), std::string::npos) << path << ": " << r.body;
    EXPECT_EQ(r.body.find("root:"), std::string::npos) << path;
  }
}

TEST_F(ServeTest, WrongMethodsAre405WithAllow) {
  auto r = raw_request(port_, "GET /v1/detect HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 405) << r.head;
  EXPECT_NE(r.head.find("Allow: POST"), std::string::npos) << r.head;
  EXPECT_NE(error_of(r.body).find("not allowed"), std::string::npos) << r.body;
  r = raw_request(port_, "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(r.status, 405) << r.head;
  EXPECT_NE(r.head.find("Allow: GET, HEAD"), std::string::npos) << r.head;
  r = raw_request(port_, "DELETE / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 405) << r.head;
}

TEST_F(ServeTest, MalformedRequestLineGetsJsonError) {
  auto r = raw_request(port_, "BREW /pot HTCPCP/1.0\r\n\r\n");
  EXPECT_EQ(r.status, 400) << r.head;
  EXPECT_NE(error_of(r.body).find("malformed"), std::string::npos) << r.body;
}

// ---- detect ---------------------------------------------------------------------------------

TEST_F(ServeTest, DetectsAMultipartPngUpload) {
  auto res = post_image(encoded(80, 72));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto j = json::parse(res->body);
  EXPECT_EQ(j["status"], "ok");
  EXPECT_EQ(j["kind"], "crop");
  EXPECT_EQ(j["path"], "face.png");
  const double score = j["score"].get<double>();
  EXPECT_GE(score, 0.0);
  EXPECT_LE(score, 1.0);
  ASSERT_EQ(j["faces"].size(), 1u);
  EXPECT_EQ(j["faces"][0]["label"], score >= 0.5 ? "fake" : "real");
  EXPECT_EQ(j["faces"][0]["box"], (std::vector<double>{0, 0, 80, 72}));
  EXPECT_FALSE(j["faces"][0].contains("heatmap_png"));
  EXPECT_EQ(j["image"]["width"], 80);
  EXPECT_GE(j["timing"]["total_ms"].get<double>(), j["timing"]["detect_ms"].get<double>());
}

TEST_F(ServeTest, UploadNamesAreEchoedSafely) {
  auto res = post_image(encoded(64, 64), "", "visage \xc3\xa9t\xc3\xa9.png");  // UTF-8 kept
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json::parse(res->body)["path"], "visage \xc3\xa9t\xc3\xa9.png");
  res = post_image(encoded(64, 64), "", "bad\xff\xfe\x01name.png");  // invalid UTF-8 and a control character
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json::parse(res->body)["path"], "bad\xef\xbf\xbd\xef\xbf\xbd?name.png");
}

TEST_F(ServeTest, RawImageBodyGivesTheSameScoreAsMultipart) {
  const std::string png = encoded(64, 64, ".png", 5);
  auto multipart = post_image(png);
  auto raw = client().Post("/v1/detect", png, "image/png");
  ASSERT_TRUE(multipart && raw);
  ASSERT_EQ(raw->status, 200) << raw->body;
  EXPECT_EQ(json::parse(raw->body)["score"], json::parse(multipart->body)["score"]);
  auto jpeg = client().Post("/v1/detect", encoded(90, 70, ".jpg"), "image/jpeg");
  ASSERT_TRUE(jpeg);
  EXPECT_EQ(jpeg->status, 200) << jpeg->body;
}

TEST_F(ServeTest, HeatmapOptionReturnsADecodablePngPerFace) {
  auto res = post_image(encoded(70, 70), "?heatmap=1");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto j = json::parse(res->body);
  ASSERT_EQ(j["faces"].size(), 1u);
  const std::string png = base64_decode(j["faces"][0]["heatmap_png"].get<std::string>());
  ASSERT_GT(png.size(), 8u);
  cv::Mat img = cv::imdecode(std::vector<uchar>(png.begin(), png.end()), cv::IMREAD_COLOR);
  ASSERT_FALSE(img.empty());
  EXPECT_GT(img.cols, img.rows);  // face | anomaly map | Grad-CAM side by side
}

TEST_F(ServeTest, ThresholdAndFlagsComeFromQueryOrFormFields) {
  const std::string png = encoded(64, 64, ".png", 3);
  auto low = post_image(png, "?threshold=0");
  ASSERT_TRUE(low);
  ASSERT_EQ(low->status, 200) << low->body;
  auto j = json::parse(low->body);
  EXPECT_EQ(j["label"], "fake");
  EXPECT_EQ(j["threshold"], 0.0);
  auto high = client().Post("/v1/detect", httplib::MultipartFormDataItems{{"image", png, "a.png", "image/png"},
                                                                          {"threshold", "1", "", ""}});
  ASSERT_TRUE(high);
  ASSERT_EQ(high->status, 200) << high->body;
  EXPECT_EQ(json::parse(high->body)["label"], "real");
  EXPECT_EQ(json::parse(high->body)["score"], j["score"]);

  for (const char* bad : {"?threshold=2", "?threshold=abc", "?heatmap=maybe", "?heatmaps=1"}) {
    auto r = post_image(png, bad);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_NE(error_of(r->body).find(std::string(bad).substr(1, 7)), std::string::npos) << bad << ": " << r->body;
  }
}

TEST_F(ServeTest, FindsTheFaceInAPhotoWithoutCrops) {
  if (!fs::exists(kOneFace)) GTEST_SKIP() << kOneFace << " not installed (Debian package libdlib-dev's examples)";
  std::ifstream in(kOneFace, std::ios::binary);
  const std::string jpeg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto res = client().Post("/v1/detect?crops=0", httplib::MultipartFormDataItems{
                                                      {"image", jpeg, "Tom_Cruise_avp_2014_4.jpg", "image/jpeg"}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto j = json::parse(res->body);
  EXPECT_EQ(j["status"], "ok") << j.dump();
  EXPECT_EQ(j["kind"], "image");
  ASSERT_GE(j["faces"].size(), 1u);
  const auto box = j["faces"][0]["box"].get<std::vector<double>>();
  EXPECT_GT(box[2], 30);  // a face, not the whole photo
  EXPECT_LT(box[2], j["image"]["width"].get<double>() * 0.9);
}

TEST_F(ServeTest, NoFaceIsAnAnswerNotAnError) {
  cv::Mat flat(120, 120, CV_8UC3, cv::Scalar(200, 180, 160));
  std::vector<uchar> png;
  cv::imencode(".png", flat, png);
  auto res = post_image(std::string(png.begin(), png.end()), "?crops=0");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto j = json::parse(res->body);
  EXPECT_EQ(j["status"], "no_face");
  EXPECT_TRUE(j["score"].is_null());
  EXPECT_NE(j["error"].get<std::string>().find("no face"), std::string::npos);
}

// ---- bad uploads ----------------------------------------------------------------------------

TEST_F(ServeTest, EmptyOrMissingUploadIs400) {
  auto r = post_image("");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(error_of(r->body).find("empty upload"), std::string::npos) << r->body;
  r = client().Post("/v1/detect", "", "image/png");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(error_of(r->body).find("empty upload"), std::string::npos) << r->body;
  r = client().Post("/v1/detect", httplib::MultipartFormDataItems{{"picture", encoded(8, 8), "a.png", "image/png"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(error_of(r->body).find("'picture'"), std::string::npos) << r->body;
  auto raw = raw_request(port_, "POST /v1/detect HTTP/1.1\r\nHost: x\r\n\r\n");  // no body at all
  EXPECT_EQ(raw.status, 400) << raw.head;
}

TEST_F(ServeTest, SecondImageFieldAndMalformedPartsAreRefused) {
  const std::string png = encoded(64, 64);
  auto r = client().Post("/v1/detect", httplib::MultipartFormDataItems{{"image", png, "a.png", "image/png"},
                                                                       {"image", encoded(64, 64, ".png", 2), "b.png", "image/png"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(error_of(r->body).find("'image' is given 2 times"), std::string::npos) << r->body;
  const std::string body = "--B\r\nContent-Disposition: form-data; name=\"image\"; filename=face.png\r\n"
                           "Content-Type: image/png\r\n\r\n" + png + "\r\n--B--\r\n";
  const RawResponse raw = raw_request(port_, "POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                                             "boundary=B\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_EQ(raw.status, 400) << raw.head;
  EXPECT_NE(error_of(raw.body).find("malformed multipart/form-data part"), std::string::npos) << raw.body;
}

TEST_F(ServeTest, TinyCropsAreRefusedAndTruncatedJpegsAreMarkedDamaged) {
  auto r = post_image(encoded(1, 1));
  ASSERT_TRUE(r);
  EXPECT_EQ(json::parse(r->body)["status"], "unsupported") << r->body;
  const std::string jpeg = encoded(256, 256, ".jpg");
  r = post_image(jpeg.substr(0, jpeg.size() * 7 / 10), "", "cut.jpg");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json j = json::parse(r->body);
  EXPECT_EQ(j["status"], "damaged");
  EXPECT_NE(j["warnings"][0].get<std::string>().find("cut.jpg: damaged image"), std::string::npos) << j;
  EXPECT_TRUE(j["score"].is_number());
}

TEST_F(ServeTest, GarbageAndTruncatedImagesAre400CannotDecode) {
  for (const std::string& bytes : {std::string("this is not an image, just some text"), std::string(5000, '\xff'),
                                   encoded(64, 64).substr(0, 200), encoded(64, 64, ".jpg").substr(0, 300),
                                   test::png_header(64, 64)}) {
    auto r = post_image(bytes);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << r->body;
    EXPECT_NE(error_of(r->body).find("cannot decode image face.png"), std::string::npos) << r->body;
  }
  auto r = client().Post("/v1/detect", "{\"image\": 1}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415);
  EXPECT_NE(error_of(r->body).find("Content-Type"), std::string::npos) << r->body;
}

TEST_F(ServeTest, OversizedBodyIs413WithTheLimit) {
  auto r = client().Post("/v1/detect", std::string((1 << 20) + 1000, 'x'), "image/png");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(error_of(r->body).find("1048576 bytes"), std::string::npos) << r->body;
  // With Expect: 100-continue (as curl sends for large bodies) the answer comes before the body.
  auto raw = raw_request(port_, "POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                                "Content-Length: 99999999999\r\nExpect: 100-continue\r\n\r\n");  // > the video limit too
  EXPECT_EQ(raw.status, 413) << raw.head;
  EXPECT_NE(error_of(raw.body).find("upload too large"), std::string::npos) << raw.body;
}

TEST_F(ServeTest, HugeDimensionsAreRefusedFromTheHeader) {
  for (auto [w, h] : {std::pair<uint32_t, uint32_t>{100000, 100000}, {1025, 10}, {0x7fffffff, 1}}) {
    auto r = post_image(test::png_header(w, h));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 422) << r->body;
    EXPECT_NE(error_of(r->body).find(std::to_string(w) + "x" + std::to_string(h)), std::string::npos) << r->body;
    EXPECT_NE(error_of(r->body).find("at most 1024 pixels"), std::string::npos) << r->body;
  }
}

TEST_F(ServeTest, ChunkedAndCompressedUploadsAreRefused) {
  auto r = raw_request(port_, "POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                              "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  EXPECT_EQ(r.status, 411) << r.head;
  EXPECT_NE(error_of(r.body).find("Content-Length"), std::string::npos) << r.body;
  r = raw_request(port_, "POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                         "Content-Encoding: gzip\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(r.status, 415) << r.head;
  EXPECT_NE(error_of(r.body).find("gzip"), std::string::npos) << r.body;
}

TEST_F(ServeTest, StalledClientIsDroppedWhileOthersAreServed) {
  // Headers, then 3 of 100 promised body bytes, then silence: the read timeout (2 s here) ends it.
  std::future<RawResponse> stalled = std::async(std::launch::async, [] {
    return raw_request(port_, "POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                              "Content-Length: 100\r\n\r\nabc", 20);
  });
  auto res = post_image(encoded(64, 64));  // served meanwhile
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  const uint64_t timed_out = json::parse(client().Get("/healthz")->body)["connections"]["timed_out"];
  const RawResponse r = stalled.get();  // a timeout, not a malformed request (issue 29)
  EXPECT_EQ(r.status, 408) << r.head;
  EXPECT_NE(error_of(r.body).find("upload stalled: no data from the client for 2 s"), std::string::npos) << r.body;
  EXPECT_EQ(json::parse(client().Get("/healthz")->body)["connections"]["timed_out"], timed_out + 1);
}

// ---- the in-flight limit --------------------------------------------------------------------

TEST(ServeBusy, RequestsBeyondMaxInFlightGet503AndTheServerRecovers) {
  std::promise<void> entered, release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> hold{true};
  ServeOptions o = test_options();
  o.max_in_flight = 1;
  o.on_detect = [&] {
    if (hold.exchange(false)) {  // only the first request waits
      entered.set_value();
      released.wait();
    }
  };
  Server server(small_model(), o);
  const int port = server.start();
  const std::string png = encoded(64, 64);
  auto post = [port, &png] {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60, 0);
    auto r = c.Post("/v1/detect", png, "image/png");
    return r ? r->status : -1;
  };
  std::future<int> first = std::async(std::launch::async, post);
  entered.get_future().wait();  // the first request holds the only slot now

  httplib::Client c("127.0.0.1", port);
  auto busy = c.Post("/v1/detect", png, "image/png");
  ASSERT_TRUE(busy);
  EXPECT_EQ(busy->status, 503);
  EXPECT_EQ(busy->get_header_value("Retry-After"), "1");
  EXPECT_NE(error_of(busy->body).find("busy"), std::string::npos) << busy->body;
  auto junk = c.Post("/v1/detect", "not an image", "image/png");  // refused from its header, busy or not
  ASSERT_TRUE(junk);
  EXPECT_EQ(junk->status, 400);
  auto health = c.Get("/healthz");  // other routes are not limited
  ASSERT_TRUE(health);
  EXPECT_EQ(json::parse(health->body)["in_flight"], 1);

  release.set_value();
  EXPECT_EQ(first.get(), 200);
  EXPECT_EQ(post(), 200);  // the slot is free again
  server.stop();
  EXPECT_FALSE(server.running());
}

// ---- slow clients and connection limits -----------------------------------------------------

/// Clients that send `text` one byte per `interval` on each of their connections, round robin, in
/// a background thread, until destroyed or the text is sent (they never send an end of header).
class Tricklers {
 public:
  Tricklers(std::vector<int> fds, std::string text, std::chrono::milliseconds interval)
      : fds_(std::move(fds)), thread_([this, text, interval] {
          for (size_t i = 0; i < text.size() && !stop_; ++i) {
            for (int fd : fds_) ::send(fd, text.data() + i, 1, MSG_NOSIGNAL);
            std::this_thread::sleep_for(interval);
          }
        }) {}
  ~Tricklers() {
    stop_ = true;
    thread_.join();
    for (int fd : fds_) ::close(fd);
  }

 private:
  std::vector<int> fds_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

/// A slow client on `fd`: sends `text` a byte every `interval` while reading the server's answer;
/// the answer and the seconds until it ended. Closes fd.
std::pair<RawResponse, double> answer_to_trickle(int fd, const std::string& text, std::chrono::milliseconds interval) {
  const auto t0 = std::chrono::steady_clock::now();
  Tricklers trickler({fd}, text, interval);
  const RawResponse r = read_answer(fd);
  return {r, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()};
}

TEST(ServeSlowClients, SixtyFourSlowHeadersLeaveHealthzAndUploadsServed) {
  ServeOptions o = test_options();
  o.header_timeout_s = 60;  // the slow clients stay for the whole test
  o.request_timeout_s = 60;
  Server server(small_model(), o);
  const int port = server.start();
  // 32 clients send part of a header and stop; 32 trickle one byte of a header every 0.5 s (each read
  // comes well within the 2 s read timeout, so only a deadline for the whole header can end them).
  std::vector<int> stalled, trickling;
  for (int i = 0; i < 64; ++i) {
    const int fd = connect_raw(port);
    ASSERT_GE(fd, 0);
    (i % 2 ? trickling : stalled).push_back(fd);
  }
  for (int fd : stalled) ::send(fd, "GET /healthz HTTP/1.1\r\nHo", 25, MSG_NOSIGNAL);
  Tricklers tricklers(trickling, "GET /healthz HTTP/1.1\r\nX-Slow: " + std::string(200, 'a'), std::chrono::milliseconds(500));

  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(5, 0);  // a server whose threads the slow clients hold answers only after 32 s or more
  auto health = c.Get("/healthz");
  ASSERT_TRUE(health) << "no answer from /healthz with 64 slow clients: " << httplib::to_string(health.error());
  EXPECT_EQ(health->status, 200);
  const json connections = json::parse(health->body)["connections"];
  EXPECT_EQ(connections["waiting_for_header"], 64) << connections.dump();
  auto upload = c.Post("/v1/detect", encoded(64, 64), "image/png");
  ASSERT_TRUE(upload) << httplib::to_string(upload.error());
  EXPECT_EQ(upload->status, 200) << upload->body;
  for (int fd : stalled) ::close(fd);
}

TEST(ServeSlowClients, HeaderDeadlineAnswers408ToATricklingClient) {
  ServeOptions o = test_options();
  o.header_timeout_s = 1;
  Server server(small_model(), o);
  const int port = server.start();
  const int fd = connect_raw(port, 15);
  ASSERT_GE(fd, 0);
  // One byte every 200 ms: 60 s for the whole header, each byte well within the 2 s read timeout.
  const auto [r, seconds] =
      answer_to_trickle(fd, "GET /healthz HTTP/1.1\r\nX-Slow: " + std::string(300, 'a'), std::chrono::milliseconds(200));
  EXPECT_EQ(r.status, 408) << r.head;
  EXPECT_NE(error_of(r.body).find("header not complete within 1 s"), std::string::npos) << r.body;
  EXPECT_LT(seconds, 10.0);  // cut by the 1 s deadline, not by the client stopping
  auto health = httplib::Client("127.0.0.1", port).Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(json::parse(health->body)["connections"]["timed_out"], 1);
}

TEST(ServeSlowClients, RequestDeadlineEndsATricklingUpload) {
  ServeOptions o = test_options();
  o.header_timeout_s = 1;
  o.request_timeout_s = 2;
  Server server(small_model(), o);
  const int port = server.start();
  const int fd = connect_raw(port, 15);
  ASSERT_GE(fd, 0);
  const std::string head = "POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\n";
  ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  const auto [r, seconds] = answer_to_trickle(fd, std::string(1000, 'x'), std::chrono::milliseconds(200));  // 200 s for the body
  EXPECT_EQ(r.status, 408) << r.head;
  EXPECT_NE(error_of(r.body).find("request not complete within 2 s of connecting"), std::string::npos) << r.body;
  EXPECT_LT(seconds, 10.0);  // dropped at the 2 s request deadline
}

TEST(ServeSlowClients, ConnectionsBeyondTheLimitGet503WithRetryAfter) {
  ServeOptions o = test_options();
  o.max_connections = 4;
  o.header_timeout_s = 60;
  Server server(small_model(), o);
  const int port = server.start();
  std::vector<int> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(connect_raw(port));  // accepted first: connections are accepted in order
  const RawResponse busy = raw_request(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(busy.status, 503) << busy.head;
  EXPECT_NE(busy.head.find("Retry-After: 1"), std::string::npos) << busy.head;
  EXPECT_NE(error_of(busy.body).find("4 connections are open"), std::string::npos) << busy.body;
  for (int fd : idle) ::close(fd);
  int status = 0;  // the closed connections free their places as soon as the server sees them close
  for (int i = 0; i < 50 && status != 200; ++i) {
    if (i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    status = raw_request(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").status;
  }
  EXPECT_EQ(status, 200);
}

TEST(ServeSlowClients, RequestsBeyondTheQueueGet503WithRetryAfter) {
  std::promise<void> entered, release;
  std::shared_future<void> released = release.get_future().share();
  ServeOptions o = test_options();
  o.threads = 1;
  o.max_queued = 0;
  o.on_detect = [&] {
    entered.set_value();
    released.wait();
  };
  Server server(small_model(), o);
  const int port = server.start();
  std::future<int> held = std::async(std::launch::async, [port] {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60, 0);
    auto r = c.Post("/v1/detect", encoded(64, 64), "image/png");
    return r ? r->status : -1;
  });
  entered.get_future().wait();  // the only worker is busy now
  const RawResponse busy = raw_request(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(busy.status, 503) << busy.head;
  EXPECT_NE(busy.head.find("Retry-After: 1"), std::string::npos) << busy.head;
  EXPECT_NE(error_of(busy.body).find("workers are serving"), std::string::npos) << busy.body;
  release.set_value();
  EXPECT_EQ(held.get(), 200);
  EXPECT_EQ(raw_request(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
}

// ---- options, helpers -----------------------------------------------------------------------

TEST(ServeOptions, BadValuesAreConfigErrorsNamingTheKey) {
  auto msg = [](auto change) {
    ServeOptions o;
    change(o);
    return test::error_message<ConfigError>([&] { o.validate(); });
  };
  EXPECT_NE(msg([](ServeOptions& o) { o.port = 70000; }).find("port = 70000"), std::string::npos);
  EXPECT_NE(msg([](ServeOptions& o) { o.max_in_flight = 0; }).find("max_in_flight = 0"), std::string::npos);
  EXPECT_NE(msg([](ServeOptions& o) { o.detect.threshold = 1.5; }).find("threshold"), std::string::npos);
  EXPECT_NE(msg([](ServeOptions& o) { o.threads = 0; }).find("threads = 0"), std::string::npos);
  EXPECT_EQ(msg([](ServeOptions&) {}), "(no exception)");
  ServeOptions o;
  o.max_in_flight = -1;
  EXPECT_THROW(Server(small_model(), o), ConfigError);
}

TEST(ServeOptions, PortInUseIsAnErrorNamingIt) {
  Server first(small_model(), test_options());
  const int port = first.start();
  ServeOptions o = test_options();
  o.port = port;
  Server second(small_model(), o);
  const std::string msg = test::error_message<Error>([&] { second.start(); });
  EXPECT_NE(msg.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << msg;
}

TEST_F(ServeTest, TiffUploadsAreRefusedFromTheHeader) {
  // The header parser knows TIFF (image files are read in it); the server does not take it.
  auto r = post_image(encoded(40, 30, ".tiff"), "", "scan.tiff");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("not a PNG, JPEG, BMP or WebP"), std::string::npos) << r->body;
}

TEST(ServeHelpers, Base64MatchesRfc4648Vectors) {
  EXPECT_EQ(serve::base64_encode(""), "");
  EXPECT_EQ(serve::base64_encode("f"), "Zg==");
  EXPECT_EQ(serve::base64_encode("fo"), "Zm8=");
  EXPECT_EQ(serve::base64_encode("foo"), "Zm9v");
  EXPECT_EQ(serve::base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(serve::base64_encode(std::string("\xff\xfe\x00", 3)), "//4A");
}

// ---- the page in a browser ------------------------------------------------------------------

/// Why the headless-browser test cannot run here, or "" when it can.
std::string browser_missing() {
  const std::string modules = std::string(SOLA_SOURCE_DIR) + "/tests/browser/node_modules/playwright-core";
  if (std::system("command -v node >/dev/null 2>&1") != 0) return "node is not installed (apt install nodejs)";
  if (!fs::exists("/usr/bin/chromium")) return "/usr/bin/chromium is not installed (apt install chromium)";
  if (!fs::exists(modules)) return modules + " is missing (run: cd tests/browser && npm ci)";
  return "";
}

/// Runs tests/browser/upload_test.mjs on the page of the server at `port` with `file`; its exit
/// code (-1 when it did not exit) and output.
std::pair<int, std::string> run_upload_test(int port, const std::string& file) {
  const std::string script = std::string(SOLA_SOURCE_DIR) + "/tests/browser/upload_test.mjs";
  const std::string cmd = "node " + script + " http://127.0.0.1:" + std::to_string(port) + "/ " + file + " 2>&1";
  std::string output;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return {-1, "popen failed"};
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) output.append(buf.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

TEST(BrowserTest, PageUploadsAnImageAndShowsTheScore) {
  if (const std::string why = browser_missing(); !why.empty()) GTEST_SKIP() << why;
  Server server(small_model(), test_options());
  const int port = server.start();
  test::TempDir dir;
  const std::string image = dir.file("face.png");
  {
    std::ofstream out(image, std::ios::binary);
    out << encoded(96, 96);
  }
  const auto [code, output] = run_upload_test(port, image);
  EXPECT_EQ(code, 0) << output;
  EXPECT_NE(output.find("score: "), std::string::npos) << output;
}

// ---- videos ---------------------------------------------------------------------------------

TEST(ServeHelpers, ProbeVideoContainerReadsTheFirstBytes) {
  using serve::probe_video_container;
  const std::string z4("\0\0\0\x18", 4);
  EXPECT_EQ(probe_video_container(z4 + "ftypisom\0\0\x02\0"), "mp4");
  EXPECT_EQ(probe_video_container(z4 + "ftypqt  \0\0\x02\0"), "mov");
  EXPECT_EQ(probe_video_container(z4 + "moov"), "mov");
  EXPECT_EQ(probe_video_container("\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm"), "webm");
  EXPECT_EQ(probe_video_container("\x1a\x45\xdf\xa3\xa3\x42\x82\x88matroska"), "mkv");
  EXPECT_EQ(probe_video_container(std::string("RIFF\x10\0\0\0AVI LIST", 16)), "avi");
  EXPECT_EQ(probe_video_container(std::string("RIFF\x10\0\0\0WEBPVP8 ", 16)), "");  // an image
  EXPECT_EQ(probe_video_container("FLV\x01"), "flv");
  EXPECT_EQ(probe_video_container(encoded(32, 32, ".png")), "");
  EXPECT_EQ(probe_video_container(""), "");
  EXPECT_EQ(probe_video_container("ftyp"), "");  // too short to hold the box header
}

/// A 640x360 MJPG/AVI clip of the single face, 20 frames at 10 fps, frames 8-11 without it.
std::string face_clip_bytes() {
  static const std::string bytes = [] {
    test::TempDir dir;
    test::ClipSpec s;
    s.height = 360;
    s.fps = 10;
    s.seconds = 2;
    s.fourcc = "MJPG";
    s.blank_from = 8;
    s.blank_to = 12;
    const std::string file = dir.file("clip.avi");
    if (!test::write_face_clip(file, s)) return std::string();
    std::ifstream in(file, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }();
  return bytes;
}

/// Video tests: faces found by the detector (no crops), 10 frames sampled.
ServeOptions video_options() {
  ServeOptions o = test_options();
  o.detect.crops = false;
  o.detect.frames = 10;
  o.max_video_bytes = 8 << 20;
  return o;
}

httplib::Result post_video(int port, const std::string& bytes, const std::string& query, const std::string& name = "clip.avi",
                           const std::string& type = "video/x-msvideo") {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(120, 0);
  c.set_write_timeout(60, 0);
  return c.Post(("/v1/detect" + query).c_str(), httplib::MultipartFormDataItems{{"video", bytes, name, type}});
}

TEST(ServeVideo, AVideoUploadIsAnsweredWithItsTimelineAndTheBestFramesHeatMap) {
  if (!test::face_photos_installed()) GTEST_SKIP() << "dlib example faces not installed";
  const std::string clip = face_clip_bytes();
  ASSERT_FALSE(clip.empty());
  test::TempDir tmp;
  const char* old_tmp = std::getenv("TMPDIR");
  const std::string saved = old_tmp ? old_tmp : "";
  setenv("TMPDIR", tmp.path.c_str(), 1);  // where the server keeps the upload while reading it
  Server server(small_model(), video_options());
  const int port = server.start();
  auto res = post_video(port, clip, "?heatmap=1&threshold=0.3");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  ASSERT_EQ(res->status, 200) << res->body;
  const json j = json::parse(res->body);
  EXPECT_EQ(j.at("kind"), "video");
  EXPECT_EQ(j.at("status"), "ok") << j.dump();
  EXPECT_EQ(j.at("path"), "clip.avi");  // the upload's name, not the temporary file's
  EXPECT_EQ(j.at("threshold"), 0.3);
  EXPECT_EQ(j.at("timeline").size(), 10u);
  EXPECT_EQ(j.at("frames_without_face"), 2);
  EXPECT_EQ(j.at("aggregation").at("frames_scored"), 8);
  EXPECT_EQ(j.at("video").at("format"), "avi");
  EXPECT_EQ(j.at("video").at("frames"), 20);
  EXPECT_NEAR(j.at("video").at("duration_s").get<double>(), 2.0, 1e-6);
  for (const char* k : {"decode_ms", "face_ms", "model_ms", "total_ms"}) EXPECT_TRUE(j.at("timing").contains(k)) << k;
  int heatmaps = 0;
  for (const auto& f : j.at("faces")) {
    EXPECT_EQ(f.at("label"), f.at("score").get<double>() >= 0.3 ? "fake" : "real");
    if (!f.contains("heatmap_png")) continue;
    ++heatmaps;
    EXPECT_NEAR(f.at("score").get<double>(), j.at("aggregation").at("max").get<double>(), 1e-6);
    const std::string png = base64_decode(f.at("heatmap_png"));
    EXPECT_FALSE(cv::imdecode(std::vector<uchar>(png.begin(), png.end()), cv::IMREAD_COLOR).empty());
  }
  EXPECT_EQ(heatmaps, 1);
  server.stop();
  EXPECT_TRUE(fs::is_empty(tmp.path)) << "the temporary upload was not removed";
  if (old_tmp) setenv("TMPDIR", saved.c_str(), 1); else unsetenv("TMPDIR");
}

TEST(ServeVideo, ProgressIsStreamedAsJsonLinesBeforeTheResult) {
  if (!test::face_photos_installed()) GTEST_SKIP() << "dlib example faces not installed";
  Server server(small_model(), video_options());
  const int port = server.start();
  auto res = post_video(port, face_clip_bytes(), "?progress=1");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/x-ndjson");
  std::vector<json> lines;
  std::istringstream in(res->body);
  for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
  ASSERT_EQ(lines.size(), 11u);  // a progress line per sampled frame, then the result
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(lines[i].at("progress").at("frames_done"), i + 1);
    EXPECT_EQ(lines[i].at("progress").at("frames_total"), 10);
  }
  EXPECT_EQ(lines.back().at("status"), "ok");
  EXPECT_EQ(lines.back().at("timeline").size(), 10u);
}

TEST(ServeVideo, OversizedLongUnknownAndBrokenVideosAreRefusedClearly) {
  const std::string clip = face_clip_bytes();
  ASSERT_FALSE(clip.empty());
  ServeOptions o = video_options();
  o.max_video_bytes = clip.size() - 1;
  {
    Server server(small_model(), o);
    const int port = server.start();
    auto res = post_video(port, clip, "");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 413);
    EXPECT_NE(error_of(res->body).find("limit is " + std::to_string(clip.size() - 1) + " bytes"), std::string::npos)
        << res->body;
  }
  o = video_options();
  o.max_video_seconds = 1.5;
  Server server(small_model(), o);
  const int port = server.start();
  auto res = post_video(port, clip, "");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  EXPECT_NE(error_of(res->body).find("clip.avi is 2.0 s long: the limit is 2 s"), std::string::npos) << res->body;

  res = post_video(port, "\x1a\x45\xdf\xa3\xa3\x42\x82\x88matroska" + std::string(100, '\0'), "", "a.mkv",
                   "video/x-matroska");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 415);
  EXPECT_NE(error_of(res->body).find("mkv container is not accepted (accepted: MP4, MOV, WebM or AVI)"), std::string::npos)
      << res->body;
  res = post_video(port, std::string(500, 'x'), "", "b.mp4", "video/mp4");  // says video, is not
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 415);
  EXPECT_NE(error_of(res->body).find("b.mp4: not a video container"), std::string::npos) << res->body;
  res = post_video(port, clip.substr(0, 300), "", "cut.avi");  // a header and nothing else: 400, as other truncations
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400) << res->body;
  EXPECT_NE(error_of(res->body).find("cannot decode video cut.avi"), std::string::npos) << res->body;
  EXPECT_EQ(error_of(res->body).find("/proc/self"), std::string::npos) << res->body;
  auto health = httplib::Client("127.0.0.1", port).Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(json::parse(health->body).at("limits").at("max_video_seconds"), 1.5);
}

/// An MJPG AVI of `frames` noise frames, w x h at `fps`.
std::string avi_bytes(int frames, int w, int h, double fps) {
  test::TempDir dir;
  const std::string file = dir.file("v.avi");
  {
    // OpenCV's own MJPEG writer: FFmpeg's AVI muxer drops frames at 10,000 fps (its time base).
    cv::VideoWriter writer(file, cv::CAP_OPENCV_MJPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), fps, cv::Size(w, h));
    EXPECT_TRUE(writer.isOpened());
    cv::Mat frame(h, w, CV_8UC3);
    for (int i = 0; i < frames; ++i) {
      cv::randu(frame, cv::Scalar::all(0), cv::Scalar::all(255));
      writer.write(frame);
    }
  }
  std::ifstream in(file, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(ServeVideo, FramesAreBoundedFromTheHeaderOrCountedWhereItGivesNoLength) {
  ServeOptions o = test_options();  // crops: every frame is scored whole
  o.detect.frames = 4;
  o.max_video_frames = 50;
  Server server(small_model(), o);
  const int port = server.start();
  // 60 frames at 10,000 fps: 6 ms long, so only the frame bound catches it (before: decoded in full).
  auto res = post_video(port, avi_bytes(60, 32, 32, 10000), "", "fast.avi");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413) << res->body;
  EXPECT_NE(error_of(res->body).find("video fast.avi has 60 frames: the limit is 50"), std::string::npos) << res->body;
  // An AVI written through a pipe: its header says 2^30 frames (before: "107374182.4 s long", 413).
  const std::string piped = test::piped_avi(30, 32, 32, 10);
  ASSERT_FALSE(piped.empty());
  res = post_video(port, piped, "", "piped.avi");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json j = json::parse(res->body);
  EXPECT_EQ(j.at("status"), "ok") << res->body;
  EXPECT_FALSE(j.contains("warnings")) << res->body;  // not "damaged": it has the 30 frames it has
  EXPECT_EQ(j.at("video").at("frames"), 30);
  EXPECT_NEAR(j.at("video").at("duration_s").get<double>(), 3.0, 1e-6);
  res = post_video(port, test::piped_avi(60, 32, 32, 10), "", "long-piped.avi");  // counted up to the limit
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413) << res->body;
  EXPECT_NE(error_of(res->body).find("long-piped.avi has more than 50 frames (its header gives no length)"), std::string::npos)
      << res->body;
  auto health = httplib::Client("127.0.0.1", port).Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(json::parse(health->body).at("limits").at("max_video_frames"), 50);
}

TEST(ServeVideo, FramesAboveMaxSideAreRefusedFromTheHeader) {
  ServeOptions o = test_options();  // max_image_side 1024
  o.detect.frames = 2;
  int frames_read = 0;
  o.on_video_frame = [&](int64_t) { ++frames_read; };
  Server server(small_model(), o);
  const int port = server.start();
  auto res = post_video(port, avi_bytes(3, 1100, 32, 10), "", "wide.avi");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 422) << res->body;
  EXPECT_NE(error_of(res->body).find("video wide.avi has frames of 1100x32: the longest side may be at most 1024 pixels"),
            std::string::npos) << res->body;
  EXPECT_EQ(frames_read, 0);  // refused before decoding
  res = post_video(port, avi_bytes(3, 1024, 32, 10), "", "fits.avi");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json::parse(res->body).at("video").at("width"), 1024);
}

TEST(ServeVideo, AClientThatHangsUpFreesItsSlotAtTheNextFrame) {
  if (!test::face_photos_installed()) GTEST_SKIP() << "dlib example faces not installed";
  const std::string clip = face_clip_bytes();
  ASSERT_FALSE(clip.empty());
  std::promise<void> first_frame, client_closed;
  std::shared_future<void> closed = client_closed.get_future().share();
  std::atomic<int> frames{0};
  ServeOptions o = video_options();  // 10 sampled frames
  o.max_in_flight = 1;
  o.on_video_frame = [&](int64_t done) {
    if (++frames == 1) {
      first_frame.set_value();
      closed.wait();  // the client hangs up while its first frame is being processed
    }
    (void)done;
  };
  Server server(small_model(), o);
  const int port = server.start();
  const int fd = connect_raw(port);
  ASSERT_GE(fd, 0);
  const std::string request = "POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: video/x-msvideo\r\nContent-Length: " +
                              std::to_string(clip.size()) + "\r\n\r\n" + clip;  // no progress=1
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    ASSERT_GT(n, 0);
    sent += static_cast<size_t>(n);
  }
  ASSERT_EQ(first_frame.get_future().wait_for(std::chrono::seconds(60)), std::future_status::ready);
  ::close(fd);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the FIN reaches the server
  client_closed.set_value();
  int in_flight = 1;
  for (int i = 0; i < 100 && in_flight != 0; ++i) {  // freed at the next frame, not after all 10
    if (i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    in_flight = json::parse(httplib::Client("127.0.0.1", port).Get("/healthz")->body)["in_flight"];
  }
  EXPECT_EQ(in_flight, 0);
  EXPECT_LE(frames.load(), 2) << "the detection went on after its client had gone";
  auto next = post_video(port, clip, "", "next.avi");  // the slot is free for the next client
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200) << next->body;
}

TEST(ServeVideo, TheUploadIsReadWithoutANameInTmpdirAndMessagesNameTheUpload) {
  if (!test::face_photos_installed()) GTEST_SKIP() << "dlib example faces not installed";
  const std::string clip = face_clip_bytes();
  ASSERT_FALSE(clip.empty());
  test::TempDir tmp;
  const char* old_tmp = std::getenv("TMPDIR");
  const std::string saved = old_tmp ? old_tmp : "";
  setenv("TMPDIR", tmp.path.c_str(), 1);
  std::atomic<int> named_while_read{0};
  ServeOptions o = video_options();
  o.on_video_frame = [&](int64_t) {  // a server killed now (SIGKILL) must leave nothing in TMPDIR
    if (!fs::is_empty(tmp.path)) ++named_while_read;
  };
  Server server(small_model(), o);
  const int port = server.start();
  // Cut in half: damaged, and the warning names the upload, not the file the server read.
  auto res = post_video(port, clip.substr(0, clip.size() / 2), "", "half.avi");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json j = json::parse(res->body);
  EXPECT_EQ(j.at("status"), "damaged") << res->body;
  ASSERT_TRUE(j.contains("warnings")) << res->body;
  for (const auto& w : j.at("warnings")) {
    EXPECT_EQ(w.get<std::string>().rfind("half.avi: damaged video", 0), 0u) << w;
    EXPECT_EQ(w.get<std::string>().find("sola-upload"), std::string::npos) << w;
  }
  EXPECT_EQ(named_while_read.load(), 0) << "the upload had a name in TMPDIR while it was read";
  server.stop();
  EXPECT_TRUE(fs::is_empty(tmp.path));
  if (old_tmp) setenv("TMPDIR", saved.c_str(), 1); else unsetenv("TMPDIR");
}

// ---- detection slots --------------------------------------------------------------------------

/// Two detections of the same input agree: kind, status, frames, scores, boxes and maps (present or
/// absent alike, equal where present).
void expect_same_detection(const detect::InputResult& got, const detect::InputResult& want, const std::string& what) {
  EXPECT_EQ(got.kind, want.kind) << what;
  EXPECT_EQ(got.status, want.status) << what;
  EXPECT_EQ(got.frames_read, want.frames_read) << what;
  EXPECT_NEAR(got.score, want.score, 1e-6) << what;
  ASSERT_EQ(got.faces.size(), want.faces.size()) << what;
  for (size_t i = 0; i < got.faces.size(); ++i) {
    const detect::FaceResult& a = got.faces[i];
    const detect::FaceResult& b = want.faces[i];
    EXPECT_EQ(a.box, b.box) << what << ", face " << i;
    EXPECT_EQ(a.frame, b.frame) << what << ", face " << i;
    EXPECT_NEAR(a.logit, b.logit, 1e-5) << what << ", face " << i;
    const std::array<std::pair<const cv::Mat*, const cv::Mat*>, 2> maps{{{&a.anomaly, &b.anomaly}, {&a.gradcam, &b.gradcam}}};
    for (const auto& [x, y] : maps) {
      ASSERT_EQ(x->empty(), y->empty()) << what << ", face " << i;
      if (!x->empty()) EXPECT_LE(cv::norm(*x, *y, cv::NORM_INF), 1e-5) << what << ", face " << i;
    }
  }
}

TEST(ServePool, OneDetectorPerSlotServesCropsAndMapsOnAndOffInTurn) {
  if (!test::face_photos_installed()) GTEST_SKIP() << "dlib example faces not installed";
  const cv::Mat photo = cv::imread(test::kOneFacePhoto);
  ASSERT_FALSE(photo.empty());
  const std::string clip = face_clip_bytes();
  ASSERT_FALSE(clip.empty());
  test::TempDir dir;
  const std::string video = dir.file("clip.avi");
  std::ofstream(video, std::ios::binary) << clip;

  detect::DetectOptions base;
  base.frames = 4;
  base.crops = true;  // the pool's Detectors serve whole images all the same
  serve::DetectorPool pool(small_model(), base, 1);
  EXPECT_EQ(pool.size(), 1);
  std::optional<serve::DetectorPool::Lease> lease = pool.try_acquire();
  ASSERT_TRUE(lease);
  EXPECT_FALSE(pool.try_acquire()) << "the only slot is held";
  EXPECT_EQ(pool.in_use(), 1);
  detect::Detector& pooled = lease->detector();

  // Each combination twice (videos once: they cost more), each call changing crops, maps or both from
  // the one before; the pooled Detector must answer as a Detector made for that combination.
  const std::vector<std::pair<bool, bool>> order{{false, false}, {true, true},  {false, true}, {true, false},
                                                 {false, false}, {false, true}, {true, true},  {true, false}};
  for (size_t k = 0; k < order.size(); ++k) {
    const auto [crops, maps] = order[k];
    detect::DetectOptions o = base;
    o.crops = crops;
    o.maps = maps;
    detect::Detector reference(small_model(), o);
    const std::string what = std::string("crops ") + (crops ? "on" : "off") + ", maps " + (maps ? "on" : "off");
    const detect::CallOptions call{crops, maps};

    const detect::InputResult want = reference.detect_image(photo, "photo");
    ASSERT_EQ(want.status, "ok") << what << ": " << want.error;
    EXPECT_EQ(want.kind, crops ? "crop" : "image") << what;
    EXPECT_EQ(want.faces.at(0).gradcam.empty(), !maps) << what;
    if (!crops) EXPECT_LT(want.faces.at(0).box.width, photo.cols * 0.9) << what << ": a face, not the whole photo";
    expect_same_detection(pooled.detect_image(photo, "photo", call), want, what + ", image");

    if (k >= 4) continue;
    const detect::InputResult want_video = reference.detect_video(video);
    ASSERT_EQ(want_video.status, "ok") << what << ": " << want_video.error;
    expect_same_detection(pooled.detect_video(video, {}, call), want_video, what + ", video");
  }
  lease.reset();
  EXPECT_EQ(pool.in_use(), 0);
  EXPECT_TRUE(pool.try_acquire()) << "the slot is free again";

  // The face detector's options are checked when the pool is made, even for a server of crops.
  detect::DetectOptions bad = base;
  bad.detector.method = "no-such-detector";
  EXPECT_NE(test::error_message<ConfigError>([&] { serve::DetectorPool(small_model(), bad, 1); }).find("no-such-detector"),
            std::string::npos);
}

TEST_F(ServeTest, UploadFieldsAreToldByTheirBytesAndNamedInMessages) {
  // A JPEG named clip.mp4 and sent as video/mp4 is an image (before: 415 "not a video container").
  auto res = client().Post("/v1/detect", httplib::MultipartFormDataItems{{"image", encoded(64, 64, ".jpg"), "clip.mp4", "video/mp4"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_NE(json::parse(res->body).at("kind"), "video") << res->body;
  // An image and a video in one request: neither is dropped in silence.
  res = client().Post("/v1/detect", httplib::MultipartFormDataItems{{"image", encoded(64, 64), "a.png", "image/png"},
                                                                     {"video", std::string("RIFF\x10\0\0\0AVI LIST", 16), "b.avi", "video/x-msvideo"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400) << res->body;
  EXPECT_NE(error_of(res->body).find("both an 'image' and a 'video' field"), std::string::npos) << res->body;
  // An empty video field is named as such.
  res = client().Post("/v1/detect", httplib::MultipartFormDataItems{{"video", "", "c.mp4", "video/mp4"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400) << res->body;
  EXPECT_NE(error_of(res->body).find("the field 'video' holds no data"), std::string::npos) << res->body;
}

TEST(BrowserTest, PageUploadsAVideoAndShowsProgressAndTheTimeline) {
  if (const std::string why = browser_missing(); !why.empty()) GTEST_SKIP() << why;
  if (!test::face_photos_installed()) GTEST_SKIP() << "dlib example faces not installed";
  Server server(small_model(), video_options());
  const int port = server.start();
  test::TempDir dir;
  const std::string clip = dir.file("clip.avi");
  {
    std::ofstream out(clip, std::ios::binary);
    out << face_clip_bytes();
  }
  const auto [code, output] = run_upload_test(port, clip);
  EXPECT_EQ(code, 0) << output;
  EXPECT_NE(output.find("timeline points: 8, no-face marks: 2"), std::string::npos) << output;
}

}  // namespace
}  // namespace sola
