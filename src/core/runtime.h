#pragma once
// Process-wide runtime settings: threads and version strings.
#include <string>

namespace sola {

/// Sets LibTorch's intra-op threads. 0 means one per available core (LibTorch defaults to 1 here).
/// Returns the number of threads in use.
int configure_threads(int threads = 0);

/// Number of cores this process may use (respects CPU affinity).
int available_cores();

/// "1.13.0" etc.
std::string torch_version();

}  // namespace sola
