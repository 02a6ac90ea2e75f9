#pragma once
// Small helpers shared by the benchmark programs: medians, wall-clock timing, peak memory and a
// minimal "--key value" command line.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace sola::bench {

/// Median of `v` (mean of the two middle values for an even count); 0 for an empty vector.
inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// When true, time_ms measures the CPU time of the whole process instead of wall-clock time: with
/// one thread, a figure that a busy machine disturbs much less (`--clock cpu`).
inline bool& use_cpu_clock() {
  static bool cpu = false;
  return cpu;
}

/// Milliseconds `fn` takes: wall clock, or process CPU time (use_cpu_clock).
template <class F>
double time_ms(F&& fn) {
  if (use_cpu_clock()) {
    timespec a{}, b{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    fn();
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    return (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
  }
  const auto t0 = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

/// Peak resident set size of this process in MiB (VmHWM of /proc/self/status; 0 if unreadable).
inline double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      std::istringstream in(line.substr(6));
      double kb = 0;
      in >> kb;
      return kb / 1024.0;
    }
  }
  return 0;
}

/// "--key value" pairs and "--flag" switches (a flag is a key whose next word starts with "--" or
/// that ends the line). Unknown keys are reported by `check`.
class Args {
 public:
  Args(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string key = argv[i];
      if (key.rfind("--", 0) != 0) throw std::invalid_argument("unexpected argument '" + key + "'");
      key = key.substr(2);
      if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
        values_[key] = argv[++i];
      } else {
        values_[key] = "";
      }
    }
  }
  std::string get(const std::string& key, const std::string& fallback) {
    known_.push_back(key);
    auto it = values_.find(key);
    return it == values_.end() ? fallback : it->second;
  }
  long long get_int(const std::string& key, long long fallback) {
    const std::string v = get(key, std::to_string(fallback));
    try {
      return std::stoll(v);
    } catch (const std::exception&) {
      throw std::invalid_argument("--" + key + " " + v + ": expected an integer");
    }
  }
  bool flag(const std::string& key) {
    known_.push_back(key);
    return values_.count(key) > 0;
  }
  /// Comma-separated integers, e.g. "--batch 1,32".
  std::vector<long long> get_list(const std::string& key, const std::string& fallback) {
    std::vector<long long> out;
    std::stringstream in(get(key, fallback));
    std::string item;
    while (std::getline(in, item, ',')) {
      try {
        out.push_back(std::stoll(item));
      } catch (const std::exception&) {
        throw std::invalid_argument("--" + key + ": '" + item + "' is not an integer");
      }
    }
    return out;
  }
  /// Throws std::invalid_argument naming the first option that no get/flag call asked for.
  void check() const {
    for (const auto& [key, value] : values_)
      if (std::find(known_.begin(), known_.end(), key) == known_.end())
        throw std::invalid_argument("unknown option --" + key);
  }

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> known_;
};

/// Runs a benchmark program's body and turns errors into its exit code: 2 with the message for bad
/// arguments (std::invalid_argument), 1 for any other error.
template <class F>
int run_main(const char* program, F&& body) {
  try {
    return body();
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 1;
  }
}

}  // namespace sola::bench
