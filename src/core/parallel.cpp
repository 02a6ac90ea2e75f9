#include "core/parallel.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>

#include "core/error.h"
#include "core/runtime.h"

namespace sola {

int default_threads() { return std::max(1, available_cores()); }

size_t worker_count(int threads, size_t n) {
  const size_t wanted = threads > 0 ? static_cast<size_t>(threads) : static_cast<size_t>(default_threads());
  return std::max<size_t>(1, std::min(wanted, n));
}

namespace {

/// Throws `error` (the exception of `item`) in the form parallel_for's contract gives.
[[noreturn]] void rethrow_naming(const std::exception_ptr& error, size_t item, const ParallelOptions& options) {
  try {
    std::rethrow_exception(error);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    const std::string name = options.item_name ? options.item_name(item) : "item " + std::to_string(item);
    throw Error(name + ": " + e.what());
  }
}

}  // namespace

void parallel_for(size_t n, const std::function<void(size_t, size_t)>& fn, const ParallelOptions& options) {
  if (n == 0) return;
  const size_t workers = worker_count(options.threads, n);
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex mutex;  // guards done, failed_item, failure and the progress calls
  size_t done = 0, failed_item = n;
  std::exception_ptr failure;

  auto work = [&](size_t worker) {
    for (size_t i = next++; i < n && !stop; i = next++) {
      try {
        fn(i, worker);
        std::lock_guard<std::mutex> lock(mutex);
        ++done;
        if (options.progress) options.progress(done, n);  // a progress callback that throws fails item i
      } catch (...) {
        stop = true;
        std::lock_guard<std::mutex> lock(mutex);
        if (i < failed_item) {
          failed_item = i;
          failure = std::current_exception();
        }
        return;
      }
    }
  };

  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  try {
    for (size_t w = 1; w < workers; ++w) pool.emplace_back(work, w);
  } catch (const std::system_error&) {
    // No more threads to be had: the workers started (and this thread) do all the items.
  }
  work(0);
  for (std::thread& t : pool) t.join();
  if (failure) rethrow_naming(failure, failed_item, options);
}

}  // namespace sola
