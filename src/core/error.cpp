#include "core/error.h"

namespace sola {

IoError::IoError(const std::string& path, const std::string& problem)
    : Error(path + ": " + problem), path_(path) {}

}  // namespace sola
