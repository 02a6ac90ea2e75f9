#include "train/progress.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>

#include <fmt/format.h>

namespace sola {

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e7) return "--:--";
  const long s = static_cast<long>(seconds + 0.5);
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
                   : fmt::format("{}:{:02}", s / 60, s % 60);
}

ProgressBar::ProgressBar(std::string label, size_t total)
    : label_(std::move(label)), total_(total), tty_(::isatty(STDERR_FILENO)),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

double ProgressBar::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressBar::update(size_t done, const std::string& info) {
  if (start_done_ == SIZE_MAX) start_done_ = done > 0 ? done - 1 : 0;  // resumed runs start mid-way
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  if (done >= total_ || since < (tty_ ? 0.2 : 30.0)) return;  // finish() draws the last state
  last_draw_ = now;
  draw(done, info, false);
}

void ProgressBar::finish(const std::string& info) { draw(total_, info, true); }

namespace {
std::atomic<bool> g_enabled{true};
}  // namespace

void ProgressBar::set_enabled(bool enabled) { g_enabled = enabled; }

void ProgressBar::draw(size_t done, const std::string& info, bool final) {
  if (!g_enabled) return;
  const double frac = total_ ? static_cast<double>(done) / total_ : 1.0;
  const double elapsed = elapsed_seconds();
  const size_t base = start_done_ == SIZE_MAX ? 0 : start_done_;
  const double rate = done > base && elapsed > 0 ? (done - base) / elapsed : 0.0;
  const double eta = rate > 0 ? (total_ - done) / rate : -1;
  const int width = 24, filled = static_cast<int>(frac * width);
  std::string bar = std::string(filled, '#') + std::string(width - filled, '.');
  std::string line = fmt::format("{} {:>6}/{:<6} [{}] {:3.0f}% {} elapsed {} eta {}", label_, done, total_, bar,
                                 100 * frac, info, format_duration(elapsed), final ? "0:00" : format_duration(eta));
  if (tty_)
    std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final ? "\n" : "");
  else
    std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace sola
