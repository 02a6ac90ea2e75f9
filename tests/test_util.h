#pragma once
// Helpers shared by the tests.
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#include <gtest/gtest.h>

namespace sola::test {

/// A fresh temporary directory, removed when the object dies.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sola-test-XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

/// The message of the E that fn() throws, or "(no exception)" when it throws none.
template <class E>
std::string error_message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const E& e) {
    return e.what();
  }
  return "(no exception)";
}

/// ../shared/data, or skips the calling test when it is absent (a user's machine).
inline std::string shared_data_or_skip() {
  std::string dir = SOLA_SHARED_DATA;
  if (!std::filesystem::exists(dir)) return {};
  return dir;
}

}  // namespace sola::test

#define SOLA_REQUIRE_SHARED_DATA(var)                                                \
  const std::string var = sola::test::shared_data_or_skip();                         \
  if (var.empty()) GTEST_SKIP() << "../shared/data not present on this machine";
