#pragma once
// Helpers shared by the tests.
#include <cstdint>
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

/// A PNG signature and IHDR chunk claiming w x h, followed by a few bytes (no pixel data): a header
/// to probe, or an upload whose size must be refused before decoding.
inline std::string png_header(uint32_t w, uint32_t h) {
  std::string s("\x89PNG\r\n\x1a\n", 8);
  s += std::string("\0\0\0\x0d", 4) + "IHDR";
  for (uint32_t v : {w, h})
    for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>((v >> shift) & 0xff);
  s += std::string("\x08\x02\0\0\0", 5);  // 8-bit RGB
  s += std::string("\0\0\0\0", 4);        // CRC (not checked by the probe)
  return s;
}

}  // namespace sola::test

#define SOLA_REQUIRE_SHARED_DATA(var)                                                \
  const std::string var = sola::test::shared_data_or_skip();                         \
  if (var.empty()) GTEST_SKIP() << "../shared/data not present on this machine";
