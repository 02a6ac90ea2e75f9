#include "serve/gate.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace sola::serve {
namespace {

using Clock = std::chrono::steady_clock;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

/// The connection the worker thread is serving (-1: none), and why a read of it ended at a timeout.
thread_local int t_serving_fd = -1;
thread_local std::string t_read_timeout;

/// How long a refused connection is drained (its request read and dropped) before it is closed, so
/// that the client reads the answer instead of a connection reset.
constexpr int64_t kLingerMs = 2000;

/// A socket read and written with poll() timeouts; reads also end at a fixed deadline, however
/// slowly the bytes come. Buffered like httplib's own SocketStream (its line reader reads byte by byte).
class DeadlineStream : public httplib::Stream {
 public:
  /// `request_timeout_s` is only for the message of a read that ends at the deadline.
  DeadlineStream(int fd, int64_t read_deadline_ms, int read_timeout_s, int write_timeout_s, int request_timeout_s)
      : fd_(fd), deadline_ms_(read_deadline_ms), read_timeout_ms_(read_timeout_s * 1000), write_timeout_ms_(write_timeout_s * 1000),
        request_timeout_s_(request_timeout_s) {}

  bool is_readable() const override { return pos_ < len_ || wait(POLLIN, read_timeout_ms_, true); }
  bool is_writable() const override { return wait(POLLOUT, write_timeout_ms_, false); }

  ssize_t read(char* ptr, size_t size) override {
    if (pos_ < len_) return take(ptr, size);
    if (!wait(POLLIN, read_timeout_ms_, true)) {
      if (timed_out_)
        t_read_timeout = now_ms() >= deadline_ms_
                             ? "request not complete within " + std::to_string(request_timeout_s_) + " s of connecting"
                             : "upload stalled: no data from the client for " + std::to_string(read_timeout_ms_ / 1000) + " s";
      return -1;
    }
    if (size >= buffer_.size()) return recv_some(ptr, size);
    const ssize_t n = recv_some(buffer_.data(), buffer_.size());
    if (n <= 0) return n;
    pos_ = 0;
    len_ = static_cast<size_t>(n);
    return take(ptr, size);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    return ::send(fd_, ptr, size, MSG_NOSIGNAL);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override { address(&getpeername, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { address(&getsockname, ip, port); }
  socket_t socket() const override { return fd_; }

 private:
  bool wait(short events, int timeout_ms, bool until_deadline) const {
    timed_out_ = false;
    for (;;) {
      int64_t ms = timeout_ms;
      if (until_deadline) ms = std::min(ms, deadline_ms_ - now_ms());
      if (ms <= 0) {
        timed_out_ = true;
        return false;
      }
      pollfd p{fd_, events, 0};
      const int r = ::poll(&p, 1, static_cast<int>(ms));
      if (r < 0 && errno == EINTR) continue;
      timed_out_ = r == 0;
      return r > 0;
    }
  }
  ssize_t recv_some(char* ptr, size_t size) {
    for (;;) {
      const ssize_t n = ::recv(fd_, ptr, size, 0);
      if (n < 0 && errno == EINTR) continue;
      return n;
    }
  }
  ssize_t take(char* ptr, size_t size) {
    const size_t n = std::min(size, len_ - pos_);
    std::memcpy(ptr, buffer_.data() + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }
  void address(int (*get)(int, sockaddr*, socklen_t*), std::string& ip, int& port) const {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (get(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return;
    std::array<char, NI_MAXHOST> host{};
    std::array<char, NI_MAXSERV> serv{};
    if (getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host.data(), host.size(), serv.data(), serv.size(),
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
      ip = host.data();
      port = std::atoi(serv.data());
    }
  }

  int fd_;
  int64_t deadline_ms_;
  int read_timeout_ms_, write_timeout_ms_, request_timeout_s_;
  mutable bool timed_out_ = false;  ///< the last wait ended at a timeout
  std::array<char, 4096> buffer_{};
  size_t pos_ = 0, len_ = 0;
};

/// True when `text` holds a complete request head: the empty line that ends the headers (httplib
/// ends them at a line that is only CRLF, after a line ending in LF).
bool has_header_end(const char* text, size_t n) {
  static const char kEnd[] = "\n\r\n";
  return std::search(text, text + n, kEnd, kEnd + 3) != text + n;
}

std::string status_text(int status) {
  switch (status) {
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

}  // namespace

struct GatedServer::Gate {
  enum class State { kWaiting, kQueued, kBusy, kClosing };
  struct Conn {
    State state = State::kWaiting;
    int64_t accepted_ms = 0;
    int64_t deadline_ms = 0;  ///< waiting: the header deadline; closing: when it is closed
  };

  GatedServer& server;
  const GateLimits limits;
  mutable std::mutex mutex;
  std::condition_variable work;
  std::unordered_map<int, Conn> conns;
  std::deque<int> queue;
  int idle_workers = 0;
  GateStats counts;  ///< accepted, refused, timed_out
  bool stopping = false, workers_stop = false, stopped = false;
  int epoll_fd = -1, wake_fd = -1;
  std::vector<char> peek;
  std::thread poller;
  std::vector<std::thread> workers;
  std::mutex stop_mutex;

  Gate(GatedServer& s, GateLimits l) : server(s), limits(std::move(l)), peek(limits.max_header_bytes + 1) {
    epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
    wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (epoll_fd < 0 || wake_fd < 0) throw Error(std::string("sola serve: cannot create the connection poller: ") + std::strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wake_fd;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &ev);
    poller = std::thread([this] { poll_loop(); });
    for (int i = 0; i < limits.threads; ++i) workers.emplace_back([this] { work_loop(); });
  }

  ~Gate() {
    stop();
    ::close(epoll_fd);
    ::close(wake_fd);
  }

  void log(const std::string& line) const {
    if (limits.log) limits.log(line);
  }

  int open_count() const {  // under mutex
    return static_cast<int>(conns.size()) - closing_count();
  }
  int closing_count() const {
    return static_cast<int>(std::count_if(conns.begin(), conns.end(), [](const auto& c) { return c.second.state == State::kClosing; }));
  }

  // ---- the listening thread ----

  void admit(int fd) {
    std::lock_guard<std::mutex> lock(mutex);
    ++counts.accepted;
    if (stopping) {
      ::close(fd);
      return;
    }
    const int64_t now = now_ms();
    if (open_count() >= limits.max_connections) {
      ++counts.refused;
      refuse(fd, 503, "busy: " + std::to_string(limits.max_connections) + " connections are open; retry shortly", now);
      return;
    }
    conns[fd] = Conn{State::kWaiting, now, now + int64_t{limits.header_timeout_s} * 1000};
    watch(fd, EPOLL_CTL_ADD);
  }

  void watch(int fd, int op) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_fd, op, fd, &ev);
  }

  /// Answers `status` without reading the request, then drains the connection for a while before
  /// closing it. Under mutex; `fd` may or may not be in conns (and in the epoll set) yet.
  void refuse(int fd, int status, const std::string& message, int64_t now) {
    const std::string body = nlohmann::json{{"error", message}}.dump();
    std::string head = "HTTP/1.1 " + std::to_string(status) + " " + status_text(status) +
                       "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                       "\r\nConnection: close\r\n";
    if (status == 503) head += "Retry-After: 1\r\n";
    const std::string answer = head + "\r\n" + body;
    (void)::send(fd, answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_WR);
    log("sola serve: - - " + std::to_string(status) + " (" + message + ")");
    const bool known = conns.count(fd) > 0;
    if (closing_count() >= limits.max_connections) {  // too many lingering already: close now
      if (known) close_conn(fd);
      else ::close(fd);
      return;
    }
    Conn& c = conns[fd];
    c.state = State::kClosing;
    c.deadline_ms = now + kLingerMs;
    watch(fd, known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD);
  }

  void close_conn(int fd) {  // under mutex; for connections the poller owns (waiting, closing)
    ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
    conns.erase(fd);
    ::close(fd);
  }

  // ---- the poller thread ----

  void poll_loop() {
    std::array<epoll_event, 64> events{};
    for (;;) {
      const int n = ::epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), 100);
      std::lock_guard<std::mutex> lock(mutex);
      if (stopping) {
        for (auto it = conns.begin(); it != conns.end();) {
          const int fd = it->first;
          const State s = it->second.state;
          ++it;
          if (s == State::kWaiting || s == State::kClosing) close_conn(fd);
        }
        return;
      }
      const int64_t now = now_ms();
      for (int i = 0; i < n; ++i) {
        const int fd = events[static_cast<size_t>(i)].data.fd;
        if (fd == wake_fd) continue;
        const auto it = conns.find(fd);
        if (it == conns.end()) continue;
        if (it->second.state == State::kClosing) {
          drain(fd);
        } else if (it->second.state == State::kWaiting) {
          check_header(fd, events[static_cast<size_t>(i)].events, now);
        }
      }
      std::vector<int> expired;
      for (const auto& [fd, c] : conns)
        if ((c.state == State::kWaiting || c.state == State::kClosing) && now >= c.deadline_ms) expired.push_back(fd);
      for (const int fd : expired) {
        if (conns[fd].state == State::kClosing) {
          close_conn(fd);
        } else {
          ++counts.timed_out;
          refuse(fd, 408, "request header not complete within " + std::to_string(limits.header_timeout_s) + " s", now);
        }
      }
    }
  }

  void check_header(int fd, uint32_t events, int64_t now) {
    const ssize_t n = ::recv(fd, peek.data(), peek.size(), MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) {  // closed before sending anything
      close_conn(fd);
      return;
    }
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) close_conn(fd);
      return;
    }
    if (has_header_end(peek.data(), static_cast<size_t>(n))) {
      dispatch(fd, now);
    } else if (static_cast<size_t>(n) > limits.max_header_bytes) {
      refuse(fd, 431, "request header longer than " + std::to_string(limits.max_header_bytes) + " bytes", now);
    } else if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
      dispatch(fd, now);  // the client has sent all it will: httplib answers what it can
    }
  }

  void dispatch(int fd, int64_t now) {
    if (static_cast<int>(queue.size()) >= limits.max_queued + idle_workers) {
      ++counts.refused;
      refuse(fd, 503, "busy: all " + std::to_string(limits.threads) + " workers are serving requests and " +
                          std::to_string(limits.max_queued) + " more are waiting; retry shortly", now);
      return;
    }
    ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
    conns[fd].state = State::kQueued;
    queue.push_back(fd);
    work.notify_one();
  }

  void drain(int fd) {
    std::array<char, 16384> sink{};
    for (;;) {
      const ssize_t n = ::recv(fd, sink.data(), sink.size(), MSG_DONTWAIT);
      if (n > 0) continue;
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) close_conn(fd);
      return;
    }
  }

  // ---- the workers ----

  void work_loop() {
    for (;;) {
      int fd = -1;
      int64_t deadline = 0;
      {
        std::unique_lock<std::mutex> lock(mutex);
        ++idle_workers;
        work.wait(lock, [this] { return !queue.empty() || workers_stop; });
        --idle_workers;
        if (queue.empty()) return;  // stopping, and nothing left to serve
        fd = queue.front();
        queue.pop_front();
        Conn& c = conns[fd];
        c.state = State::kBusy;
        deadline = c.accepted_ms + int64_t{limits.request_timeout_s} * 1000;
      }
      server.serve_connection(fd, deadline);
      {
        std::lock_guard<std::mutex> lock(mutex);
        conns.erase(fd);
      }
      ::shutdown(fd, SHUT_RDWR);
      ::close(fd);
    }
  }

  // ---- stop ----

  void stop() {
    std::lock_guard<std::mutex> stop_lock(stop_mutex);
    if (stopped) return;
    stopped = true;
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopping = true;
    }
    const uint64_t one = 1;
    (void)!::write(wake_fd, &one, sizeof one);
    poller.join();
    {
      std::lock_guard<std::mutex> lock(mutex);
      workers_stop = true;  // the queued requests are still served
    }
    work.notify_all();
    for (auto& t : workers) t.join();
  }

  GateStats stats() const {
    std::lock_guard<std::mutex> lock(mutex);
    GateStats s = counts;
    for (const auto& [fd, c] : conns) {
      if (c.state == State::kWaiting) ++s.waiting;
      if (c.state == State::kQueued) ++s.queued;
      if (c.state == State::kBusy) ++s.busy;
    }
    s.open = s.waiting + s.queued + s.busy;
    return s;
  }
};

namespace {

/// httplib's task queue, run on its listening thread: handing a socket to the gate never blocks.
class InlineQueue : public httplib::TaskQueue {
 public:
  explicit InlineQueue(std::function<void()> on_shutdown) : on_shutdown_(std::move(on_shutdown)) {}
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override { on_shutdown_(); }

 private:
  std::function<void()> on_shutdown_;
};

}  // namespace

GatedServer::GatedServer(GateLimits limits) : gate_(std::make_unique<Gate>(*this, std::move(limits))) {
  new_task_queue = [this] { return new InlineQueue([this] { gate_->stop(); }); };
}

GatedServer::~GatedServer() { gate_->stop(); }

GateStats GatedServer::stats() const { return gate_->stats(); }

const GateLimits& GatedServer::limits() const { return gate_->limits; }

bool GatedServer::process_and_close_socket(socket_t sock) {
  gate_->admit(sock);
  return true;
}

void GatedServer::serve_connection(socket_t sock, int64_t read_deadline_ms) {
  const GateLimits& l = gate_->limits;
  DeadlineStream stream(sock, read_deadline_ms, l.read_timeout_s, l.write_timeout_s, l.request_timeout_s);
  t_serving_fd = sock;
  t_read_timeout.clear();
  bool connection_closed = false;
  try {  // handlers' exceptions are answered 500 by httplib; anything else must not end the worker
    process_request(stream, /*close_connection=*/true, connection_closed, nullptr);
  } catch (...) {
  }
  if (!t_read_timeout.empty()) {
    std::lock_guard<std::mutex> lock(gate_->mutex);
    ++gate_->counts.timed_out;
  }
  t_serving_fd = -1;
  t_read_timeout.clear();
}

bool GatedServer::client_gone() {
  if (t_serving_fd < 0) return false;
  pollfd p{t_serving_fd, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

std::string GatedServer::read_timeout_reason() { return t_read_timeout; }

}  // namespace sola::serve
