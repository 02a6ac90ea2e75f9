#pragma once
// The connection front of `sola serve`: an httplib::Server whose connections wait for their request
// header in one poller thread (epoll) instead of in a worker thread, so that a slow or idle client
// costs a file descriptor, not a thread.
//
//   accept ──> waiting for the header ──(header complete)──> queued ──> a worker: httplib reads the
//              (poller thread; 408 after                      (503 when   body and answers (the body
//               header_timeout_s, 431 when too long)           full)       read ends at request_timeout_s)
//
// Bounds: open connections (max_connections; beyond: 503 with Retry-After, answered at once),
// complete requests waiting for a worker (max_queued; beyond: 503 with Retry-After), worker threads
// (threads). The header must arrive in full within header_timeout_s of the connection, and header and
// body within request_timeout_s, however slowly the client trickles bytes; each read and write also
// has its own timeout. A body read that ends at either timeout is answered 408 (through the server's
// error handler: read_timeout_reason) and counted in timed_out. One request per connection (answers
// carry Connection: close).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <httplib.h>

namespace sola::serve {

struct GateLimits {
  int threads = 16;               ///< worker threads (each serves one connection at a time)
  int max_connections = 256;      ///< connections open at once; beyond: 503 + Retry-After
  int max_queued = 64;            ///< complete requests waiting for a free worker; beyond: 503 + Retry-After
  int header_timeout_s = 10;      ///< from accept to the end of the request header; then 408
  int request_timeout_s = 60;     ///< from accept to the end of the body; then the connection is dropped
  int read_timeout_s = 10;        ///< per socket read
  int write_timeout_s = 10;       ///< per socket write
  size_t max_header_bytes = 16384;  ///< request line and headers; longer: 431
  /// Called with one line for every connection the gate answers itself (408, 431, 503); may be empty.
  std::function<void(const std::string&)> log;
};

/// Connections by stage, and counts since the start.
struct GateStats {
  int open = 0;            ///< waiting + queued + busy
  int waiting = 0;         ///< waiting for their request header
  int queued = 0;          ///< complete header, waiting for a worker
  int busy = 0;            ///< being served by a worker
  uint64_t accepted = 0;
  uint64_t refused = 0;    ///< answered 503 (too many connections or a full queue)
  uint64_t timed_out = 0;  ///< answered 408: header not complete in time, or a body read that timed out
};

class GatedServer : public httplib::Server {
 public:
  /// Starts the poller and the workers; stop() or the end of listen_after_bind() stops them.
  explicit GatedServer(GateLimits limits);
  ~GatedServer() override;
  GatedServer(const GatedServer&) = delete;
  GatedServer& operator=(const GatedServer&) = delete;

  GateStats stats() const;
  const GateLimits& limits() const;

  /// For handlers, on the worker thread serving the request: true when its client has closed the
  /// connection (or shut down its sending side: it has sent the whole request and will read no
  /// answer from a server that waits for more) or the connection failed. False on other threads.
  static bool client_gone();
  /// For handlers, on the worker thread serving the request: why a read of its body ended at a
  /// timeout (httplib then answers 400; the server answers 408 with this), or "" when none did.
  static std::string read_timeout_reason();

 private:
  // httplib's accept loop hands every accepted socket here (on the listening thread): it joins the
  // connections waiting for their header and the call returns at once.
  bool process_and_close_socket(socket_t sock) override;
  /// Runs one request on `sock` (a worker thread); reads end at `read_deadline_ms` (steady clock, ms).
  void serve_connection(socket_t sock, int64_t read_deadline_ms);

  struct Gate;
  std::unique_ptr<Gate> gate_;
};

}  // namespace sola::serve
