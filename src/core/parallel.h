#pragma once
// The worker pool of sola's batch jobs (prepare, synth, pack, check_images, read_packed): a
// parallel for over item indices, with per-worker state, serialized progress and errors that
// reach the caller.
//
// Threads: every `threads` setting of these jobs means the same thing; 0 asks for
// default_threads(), one per core this process may run on (available_cores(): the CPU affinity
// mask, so `taskset` and container CPU sets are respected). A pool never has more workers than
// items.
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sola {

/// The workers a pool asked for 0 threads has: one per core this process may run on.
int default_threads();

/// The workers parallel_for runs for `n` items when asked for `threads` (0: default_threads()):
/// at most n, at least 1.
size_t worker_count(int threads, size_t n);

struct ParallelOptions {
  /// Worker threads; 0: default_threads(). The calling thread is worker 0.
  int threads = 0;
  /// Name of item i in error messages, e.g. its file; empty: "item i".
  std::function<std::string(size_t item)> item_name;
  /// Called after each item is done with the number done so far and n, one call at a time.
  std::function<void(size_t done, size_t total)> progress;
};

/// Calls fn(item, worker) once for every item in [0, n), on worker_count(options.threads, n)
/// threads, and returns when all are done. Items are handed out in increasing order; `worker`
/// (0 .. workers-1) identifies the thread, for state of its own (PerWorker). Whatever the thread
/// count, results written to slot `item` of a vector come out in item order.
///
/// When fn throws, no further item is started; the workers finish the items they hold, and the
/// exception of the lowest item that failed is thrown in the caller: a sola::Error as it is (its
/// message names its input, as every sola error does), any other std::exception (from OpenCV,
/// the standard library) as a sola::Error "NAME: what" naming the item by options.item_name.
void parallel_for(size_t n, const std::function<void(size_t item, size_t worker)>& fn,
                  const ParallelOptions& options = {});

/// One T per worker of a parallel_for, made by `make` when a worker first asks for it (in that
/// worker's thread). first() makes worker 0's at once: bad settings (a missing model file) then
/// fail before any work starts.
template <class T>
class PerWorker {
 public:
  PerWorker(size_t workers, std::function<std::unique_ptr<T>()> make)
      : make_(std::move(make)), slots_(workers > 0 ? workers : 1) {}

  /// Worker 0's T, made now if it is not yet.
  T& first() { return (*this)[0]; }

  /// Worker `worker`'s T; each slot is only ever used by its own worker's thread.
  T& operator[](size_t worker) {
    std::unique_ptr<T>& slot = slots_.at(worker);
    if (!slot) slot = make_();
    return *slot;
  }

 private:
  std::function<std::unique_ptr<T>()> make_;
  std::vector<std::unique_ptr<T>> slots_;
};

}  // namespace sola
