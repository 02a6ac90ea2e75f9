#pragma once
// Whole-file reads and writes for the tests (a small header of its own, so that test_util.h's many
// includers do not recompile for it).
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

namespace sola::test {

/// The bytes of `file` ("" where it cannot be opened).
inline std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Writes `bytes` to `file`, creating its folder.
inline void write_file(const std::filesystem::path& file, std::string_view bytes) {
  std::filesystem::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace sola::test
