#include "core/runtime.h"

#include <sched.h>

#include <thread>

#include <ATen/Parallel.h>
#include <torch/version.h>

namespace sola {

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

int configure_threads(int threads) {
  if (threads <= 0) threads = available_cores();
  at::set_num_threads(threads);
  return at::get_num_threads();
}

std::string torch_version() { return TORCH_VERSION; }

}  // namespace sola
