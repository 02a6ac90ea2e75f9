#pragma once
// A progress bar on stderr: redrawn in place on a terminal, a plain line every few seconds
// otherwise (logs, CI).
#include <chrono>
#include <string>

namespace sola {

class ProgressBar {
 public:
  ProgressBar(std::string label, size_t total);
  /// `done` items so far; `info` is shown after the bar (loss terms, ...).
  void update(size_t done, const std::string& info = "");
  /// Draws the final state and ends the line.
  void finish(const std::string& info = "");
  double elapsed_seconds() const;
  /// Turns every bar of the process on or off (off on the non-zero ranks of a distributed run).
  static void set_enabled(bool enabled);

 private:
  void draw(size_t done, const std::string& info, bool final);
  std::string label_;
  size_t total_;
  size_t start_done_ = SIZE_MAX;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

/// "1:02:03" / "2:03".
std::string format_duration(double seconds);

}  // namespace sola
