#pragma once
// The libFuzzer glue shared by the fuzz_*.cpp targets: one scratch folder per process and the
// LLVMFuzzerTestOneInput that treats sola::Error as an expected rejection. Any other exception
// escapes, and libFuzzer reports it (with the input) like a crash.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <opencv2/core/utility.hpp>
#include <torch/utils.h>  // torch::set_num_threads

#include "entry_points.h"

namespace sola::fuzz {

/// This process's scratch folder, /dev/shm/sola-fuzz-PID (memory, not disk; $TMPDIR where there
/// is no /dev/shm), removed at exit.
inline const Scratch& process_scratch() {
  static const Scratch scratch = [] {
    namespace fs = std::filesystem;
    const fs::path base = fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    static const fs::path dir = base / ("sola-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(dir, ec);
    });
    return Scratch(dir);
  }();
  return scratch;
}

}  // namespace sola::fuzz

/// Defines the libFuzzer entry for `entry` (one of the run_* functions of entry_points.h).
/// One thread for LibTorch and OpenCV: the fuzzing jobs already use every core.
#define SOLA_FUZZ_TARGET(entry)                                                           \
  extern "C" int LLVMFuzzerInitialize(int*, char***) {                                   \
    torch::set_num_threads(1);                                                            \
    cv::setNumThreads(0);                                                                 \
    sola::fuzz::process_scratch();                                                        \
    return 0;                                                                             \
  }                                                                                       \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {               \
    try {                                                                                 \
      sola::fuzz::entry(sola::fuzz::process_scratch(),                                    \
                        std::string_view(reinterpret_cast<const char*>(data), size));     \
    } catch (const sola::Error&) {                                                        \
      /* the parser rejected the input with a message: the expected outcome */            \
    }                                                                                     \
    return 0;                                                                             \
  }
