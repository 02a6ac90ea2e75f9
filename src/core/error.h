#pragma once
// Errors sola throws. Every message names the input (file, line, key) and the problem.
#include <stdexcept>
#include <string>

namespace sola {

/// Base class of all errors sola reports to a user.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A configuration value or command-line value is wrong (the CLI exits with code 2).
class ConfigError : public Error {
 public:
  using Error::Error;
};

/// A file is missing, unreadable, truncated or not what it claims to be.
class IoError : public Error {
 public:
  IoError(const std::string& path, const std::string& problem);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace sola
