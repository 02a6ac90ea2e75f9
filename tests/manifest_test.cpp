// Dataset manifests: CSV parsing, path resolution, problem reports, image checks.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "core/error.h"
#include "data/manifest.h"
#include "test_util.h"

namespace sola {
namespace {

namespace fs = std::filesystem;
using data::Manifest;

/// Writes `text` to `file` byte for byte, creating its folder.
void write_text(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary) << text;
}

/// Writes a `w`x`h` image with `channels` channels (1 for a mask) with cv::imwrite.
void write_image(const fs::path& file, int w, int h, int channels = 3) {
  fs::create_directories(file.parent_path());
  cv::Mat img(h, w, CV_8UC(channels), cv::Scalar::all(255));
  ASSERT_TRUE(cv::imwrite(file.string(), img)) << file;
}

/// `dir`/ds with real/a.png, real/c.png, fake/b.jpg, fake/d.png (32x32) and mask/b.png.
fs::path make_dataset(const fs::path& dir) {
  const fs::path ds = dir / "ds";
  write_image(ds / "real/a.png", 32, 32);
  write_image(ds / "real/c.png", 32, 32);
  write_image(ds / "fake/b.jpg", 32, 32);
  write_image(ds / "fake/d.png", 32, 32);
  write_image(ds / "mask/b.png", 32, 32, 1);
  return ds;
}

TEST(Manifest, ResolvesPathsAgainstTheManifestFolder) {
  test::TempDir dir;
  const fs::path ds = make_dataset(dir.path);
  write_image(dir.path / "elsewhere/e.png", 32, 32);
  const std::string elsewhere = (dir.path / "elsewhere/e.png").string();
  const std::string file = (ds / "manifest.csv").string();
  write_text(file,
             "path,label,mask,group,method\n"
             "real/a.png,0,,g1,real\n"
             "./fake/../fake/b.jpg,1,mask/b.png,g1,dfdc\n" +
                 elsewhere + ",1,,,\n");
  const Manifest m = data::read_manifest(file);
  ASSERT_EQ(m.samples.size(), 3u);
  EXPECT_EQ(m.sources, std::vector<std::string>{file});
  EXPECT_EQ(m.n_real(), 1u);
  EXPECT_EQ(m.n_fake(), 2u);
  EXPECT_EQ(m.n_with_mask(), 1u);

  const data::Sample& real = m.samples[0];
  EXPECT_EQ(real.path, (ds / "real/a.png").string());
  EXPECT_EQ(real.mask, "");
  EXPECT_EQ(real.label, 0);
  EXPECT_EQ(real.group, "g1");
  EXPECT_EQ(real.method, "real");
  EXPECT_EQ(real.source, file);
  EXPECT_EQ(real.line, 2u);

  const data::Sample& fake = m.samples[1];
  EXPECT_EQ(fake.path, (ds / "fake/b.jpg").string());
  EXPECT_EQ(fake.mask, (ds / "mask/b.png").string());
  EXPECT_EQ(fake.label, 1);
  EXPECT_EQ(fake.method, "dfdc");
  EXPECT_EQ(fake.line, 3u);

  // An absolute path stays; empty group and method take their defaults.
  EXPECT_EQ(m.samples[2].path, elsewhere);
  EXPECT_EQ(m.samples[2].group, elsewhere);
  EXPECT_EQ(m.samples[2].method, "fake");

  // A manifest named relative to the cwd gives paths relative to the cwd.
  const fs::path rel = fs::relative(file);
  ASSERT_TRUE(rel.is_relative()) << rel;
  const Manifest r = data::read_manifest(rel.string());
  EXPECT_EQ(r.samples[1].path, (rel.parent_path() / "fake/b.jpg").lexically_normal().string());
  EXPECT_TRUE(fs::exists(r.samples[1].path)) << r.samples[1].path;
}

TEST(Manifest, HeaderColumnsInAnyOrderWithExtraColumns) {
  test::TempDir dir;
  const fs::path ds = make_dataset(dir.path);
  write_text(ds / "m.csv",
             "method,note,label,path,group\n"
             "dfdc,anything,1,fake/b.jpg,g7\n"
             "real,,0,real/a.png,g7\n");
  const Manifest m = data::read_manifest((ds / "m.csv").string());
  ASSERT_EQ(m.samples.size(), 2u);
  EXPECT_EQ(m.samples[0].path, (ds / "fake/b.jpg").string());
  EXPECT_EQ(m.samples[0].label, 1);
  EXPECT_EQ(m.samples[0].method, "dfdc");
  EXPECT_EQ(m.samples[0].group, "g7");
  EXPECT_EQ(m.samples[0].mask, "");
  EXPECT_EQ(m.samples[1].path, (ds / "real/a.png").string());
  EXPECT_EQ(m.samples[1].label, 0);
}

TEST(Manifest, OptionalColumnsTakeDefaults) {
  test::TempDir dir;
  const fs::path ds = make_dataset(dir.path);
  write_text(ds / "m.csv", "label,path\n1,fake/b.jpg\n0,real/a.png\n");
  const Manifest m = data::read_manifest((ds / "m.csv").string());
  ASSERT_EQ(m.samples.size(), 2u);
  EXPECT_EQ(m.samples[0].group, m.samples[0].path);
  EXPECT_EQ(m.samples[0].method, "fake");
  EXPECT_EQ(m.samples[1].method, "real");
  EXPECT_EQ(m.n_with_mask(), 0u);
}

TEST(Manifest, BomCrlfAndBlankLines) {
  test::TempDir dir;
  const fs::path ds = make_dataset(dir.path);
  write_text(ds / "m.csv",
             "\xEF\xBB\xBFpath,label,mask\r\n"
             "real/a.png,0,\r\n"
             "\r\n"
             "  \r\n"
             "fake/b.jpg,1,mask/b.png\r\n");
  const Manifest m = data::read_manifest((ds / "m.csv").string());
  ASSERT_EQ(m.samples.size(), 2u);
  EXPECT_EQ(m.samples[0].label, 0);
  EXPECT_EQ(m.samples[0].line, 2u);
  EXPECT_EQ(m.samples[1].line, 5u);
  EXPECT_EQ(m.samples[1].mask, (ds / "mask/b.png").string());
}

TEST(Manifest, QuotedFields) {
  test::TempDir dir;
  const fs::path ds = make_dataset(dir.path);
  write_image(ds / "fake/b, c.png", 32, 32);
  write_text(ds / "m.csv",
             "path,label,mask,group,method\n"
             "\"fake/b, c.png\",1,,\"say \"\"hi\"\"\",\"two\nlines\"\n"
             "\"real/a.png\",\"0\",\"\",g,real\n");
  const Manifest m = data::read_manifest((ds / "m.csv").string());
  ASSERT_EQ(m.samples.size(), 2u);
  EXPECT_EQ(m.samples[0].path, (ds / "fake/b, c.png").string());
  EXPECT_EQ(m.samples[0].group, "say \"hi\"");
  EXPECT_EQ(m.samples[0].method, "two\nlines");
  EXPECT_EQ(m.samples[1].path, (ds / "real/a.png").string());
  EXPECT_EQ(m.samples[1].line, 4u);  // the quoted line end counts
}

TEST(Manifest, UnclosedQuoteIsReported) {
  test::TempDir dir;
  const fs::path ds = make_dataset(dir.path);
  const std::string file = (ds / "m.csv").string();
  write_text(file, "path,label\nreal/a.png,0\n\"fake/b.jpg,1\nreal/c.png,0\n");
  const std::string msg = test::error_message<Error>([&] { data::read_manifest(file); });
  EXPECT_NE(msg.find(file + ":3: quoted field opened on line 3 is never closed"), std::string::npos) << msg;
  write_text(file, "path,label\n\"real/a.png\"x,0\n");
  const std::string after = test::error_message<Error>([&] { data::read_manifest(file); });
  EXPECT_NE(after.find(file + ":2: unexpected text after the closing quote of field 1"), std::string::npos) << after;
}

TEST(Manifest, ReportsEveryProblemWithItsLine) {
  test::TempDir dir;
  const fs::path ds = make_dataset(dir.path);
  const std::string file = (ds / "m.csv").string();
  write_text(file,
             "path,label,mask,group,method\n"
             "real/a.png,0,,g1,real\n"
             "fake/b.jpg,2,,g1,dfdc\n"
             "fake/missing.jpg,1,,g2,dfdc\n"
             "real/a.png,0,,g1,real\n"
             "fake/b.jpg,1,,g1\n"
             ",1,,g3,dfdc\n"
             "real/c.png,0,mask/b.png,g3,real\n"
             "fake/d.png,1,mask/nope.png,g4,dfdc\n");
  const std::string msg = test::error_message<Error>([&] { data::read_manifest(file); });
  const std::string at = file + ":";
  for (const std::string& expected : {
           std::string("(7 problems)"),
           at + "3: label must be 0 or 1, found '2'",
           at + "4: image file '" + (ds / "fake/missing.jpg").string() + "' not found",
           at + "5: duplicate path 'real/a.png' (first on line 2)",
           at + "6: expected 5 fields as in the header, found 4",
           at + "7: empty path",
           at + "8: real image (label 0) has a mask 'mask/b.png'",
           at + "9: mask file '" + (ds / "mask/nope.png").string() + "' not found",
       }) {
    EXPECT_NE(msg.find(expected), std::string::npos) << "missing: " << expected << "\nin: " << msg;
  }
  EXPECT_EQ(msg.find(at + "2:"), std::string::npos) << msg;
}

TEST(Manifest, HeaderProblems) {
  test::TempDir dir;
  const std::string file = dir.file("m.csv");
  auto message = [&](const std::string& text) {
    write_text(file, text);
    return test::error_message<Error>([&] { data::read_manifest(file); });
  };
  std::string msg = message("file,label\nreal/a.png,0\n");
  EXPECT_NE(msg.find(file + ":1: header has no 'path' column"), std::string::npos) << msg;
  msg = message("\n\npath,group\n");
  EXPECT_NE(msg.find(file + ":3: header has no 'label' column"), std::string::npos) << msg;
  msg = message("path,label,path\n");
  EXPECT_NE(msg.find(file + ":1: column 'path' appears twice in the header (columns 1 and 3)"), std::string::npos)
      << msg;
  msg = message("");
  EXPECT_NE(msg.find(file + ":1: empty manifest"), std::string::npos) << msg;
  msg = message("path,label\n\n");
  EXPECT_NE(msg.find(file + ":1: no samples after the header"), std::string::npos) << msg;
}

TEST(Manifest, LongReportsAreCut) {
  test::TempDir dir;
  const std::string file = dir.file("m.csv");
  std::string text = "path,label\n";
  for (int i = 0; i < 25; ++i) text += "x" + std::to_string(i) + ".png,0\n";
  write_text(file, text);
  const std::string msg = test::error_message<Error>([&] { data::read_manifest(file); });
  EXPECT_NE(msg.find("(25 problems)"), std::string::npos) << msg;
  EXPECT_NE(msg.find(file + ":21: image file"), std::string::npos) << msg;
  EXPECT_EQ(msg.find(file + ":22:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("... and 5 more"), std::string::npos) << msg;
}

TEST(Manifest, MissingManifestIsIoError) {
  test::TempDir dir;
  const std::string file = dir.file("nope.csv");
  try {
    data::read_manifest(file);
    ADD_FAILURE() << "no IoError";
  } catch (const IoError& e) {
    EXPECT_EQ(e.path(), file);
    EXPECT_NE(std::string(e.what()).find(file + ": manifest not found"), std::string::npos) << e.what();
  }
  EXPECT_THROW(data::read_manifest(dir.path.string()), IoError);
}

TEST(Manifest, CheckImagesAcceptsGoodImages) {
  test::TempDir dir;
  const fs::path ds = make_dataset(dir.path);
  write_text(ds / "m.csv", "path,label,mask\nreal/a.png,0,\nfake/b.jpg,1,mask/b.png\nfake/d.png,1,\n");
  const Manifest m = data::read_manifest((ds / "m.csv").string());
  EXPECT_NO_THROW(data::check_images(m, 1));
  EXPECT_NO_THROW(data::check_images(m));
  EXPECT_NO_THROW(data::check_images(Manifest{}));
}

TEST(Manifest, CheckImagesReportsBadImagesAndMasks) {
  test::TempDir dir;
  const fs::path ds = make_dataset(dir.path);
  write_text(ds / "fake/text.jpg", "this is not a JPEG\n");
  write_image(ds / "mask/small.png", 16, 16, 1);
  write_image(ds / "fake/huge.png", data::kMaxImageSide + 1, 1);
  write_text(ds / "mask/text.png", "not a PNG either\n");
  std::ifstream png(ds / "real/a.png", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(png)), std::istreambuf_iterator<char>());
  write_text(ds / "fake/cut.png", bytes.substr(0, bytes.size() / 2));
  const std::string file = (ds / "m.csv").string();
  write_text(file,
             "path,label,mask\n"
             "real/a.png,0,\n"
             "fake/text.jpg,1,\n"
             "fake/b.jpg,1,mask/small.png\n"
             "fake/huge.png,1,\n"
             "fake/d.png,1,mask/text.png\n"
             "fake/cut.png,1,\n");
  const Manifest m = data::read_manifest(file);
  const std::string msg = test::error_message<Error>([&] { data::check_images(m, 4); });
  const std::string at = file + ":";
  for (const std::string& expected : {
           std::string("(5 problems)"),
           at + "3: image '" + (ds / "fake/text.jpg").string() + "' is not an image OpenCV can read",
           at + "4: mask '" + (ds / "mask/small.png").string() + "' is 16x16 but its image is 32x32",
           at + "5: image '" + (ds / "fake/huge.png").string() + "' is 8193x1, larger than 8192 px a side",
           at + "6: mask '" + (ds / "mask/text.png").string() + "' is not an image OpenCV can read",
           at + "7: image '" + (ds / "fake/cut.png").string() + "' cannot be decoded",
       }) {
    EXPECT_NE(msg.find(expected), std::string::npos) << "missing: " << expected << "\nin: " << msg;
  }
  EXPECT_EQ(msg.find(at + "2:"), std::string::npos) << msg;
  EXPECT_EQ(test::error_message<Error>([&] { data::check_images(m, 1); }), msg);  // same report, same order
}

TEST(Manifest, CombineConcatenatesAndRejectsOverlap) {
  test::TempDir dir;
  const fs::path ds = make_dataset(dir.path);
  const std::string a = (ds / "a.csv").string();
  const std::string b = (dir.path / "b/b.csv").string();
  write_text(a, "path,label\nreal/a.png,0\nfake/b.jpg,1\n");
  write_text(b, "path,label\n../ds/real/c.png,0\n");
  const Manifest m = data::combine({data::read_manifest(a), data::read_manifest(b)});
  ASSERT_EQ(m.samples.size(), 3u);
  EXPECT_EQ(m.sources, (std::vector<std::string>{a, b}));
  EXPECT_EQ(m.samples[1].source, a);
  EXPECT_EQ(m.samples[2].source, b);
  EXPECT_EQ(m.samples[2].path, (ds / "real/c.png").string());
  EXPECT_EQ(m.n_real(), 2u);
  const Manifest r = data::read_manifests({a, b});
  ASSERT_EQ(r.samples.size(), 3u);
  EXPECT_EQ(r.samples[2].line, 2u);

  write_text(b, "path,label\n../ds/real/c.png,0\n../ds/fake/b.jpg,1\n");
  const std::string msg = test::error_message<Error>([&] { data::read_manifests({a, b}); });
  EXPECT_NE(msg.find(b + ":3: image '" + (ds / "fake/b.jpg").string() + "' is also listed at " + a + ":3"),
            std::string::npos)
      << msg;
}

TEST(Manifest, ARealMustBeCalledRealAndAFakeMustNot) {
  test::TempDir dir;
  const fs::path ds = make_dataset(dir.path);
  const std::string file = (ds / "m.csv").string();
  write_text(file,
             "path,label,mask,group,method\n"
             "real/a.png,0,,g1,youtube\n"
             "fake/b.jpg,1,,g1,real\n"
             "real/c.png,0,,g2,\n"
             "fake/d.png,1,,g2,\n");
  const std::string msg = test::error_message<Error>([&] { data::read_manifest(file); });
  EXPECT_NE(msg.find(file + ":2: real image (label 0) has method 'youtube'"), std::string::npos) << msg;
  EXPECT_NE(msg.find(file + ":3: fake image (label 1) has method 'real'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(2 problems)"), std::string::npos) << "empty methods take their defaults: " << msg;
}

TEST(Manifest, FilterMethodsKeepsTheNamedFakesAndEveryReal) {
  test::TempDir dir;
  const fs::path ds = make_dataset(dir.path);
  const std::string file = (ds / "m.csv").string();
  write_text(file,
             "path,label,mask,group,method\n"
             "real/a.png,0,,g1,real\n"
             "fake/b.jpg,1,,g1,Deepfakes\n"
             "real/c.png,0,,g2,real\n"
             "fake/d.png,1,,g2,FaceSwap\n");
  const Manifest m = data::read_manifest(file);
  EXPECT_EQ(data::fake_methods(m), (std::vector<std::string>{"Deepfakes", "FaceSwap"}));
  const Manifest df = data::filter_methods(m, {"Deepfakes"}, "--train");
  ASSERT_EQ(df.samples.size(), 3u);
  EXPECT_EQ(df.n_real(), 2u);
  EXPECT_EQ(df.samples[1].method, "Deepfakes");
  EXPECT_EQ(df.sources, m.sources);
  EXPECT_EQ(data::filter_methods(m, {}, "--train").samples.size(), 4u);
  EXPECT_EQ(data::filter_methods(m, {"FaceSwap", "Deepfakes"}, "--train").samples.size(), 4u);
  const std::string msg = test::error_message<ConfigError>([&] { data::filter_methods(m, {"Face2Face"}, "--val"); });
  EXPECT_NE(msg.find("--val (" + file + "): no fake of method 'Face2Face'; its fakes' methods are: Deepfakes, FaceSwap"),
            std::string::npos)
      << msg;
}

TEST(Manifest, RealDfdcValidation) {
  const std::string file = SOLA_SHARED_DATA "/dfdc/val/manifest.csv";
  if (!fs::exists(file)) GTEST_SKIP() << file << " not present on this machine";
  const Manifest m = data::read_manifest(file);
  EXPECT_EQ(m.samples.size(), 1000u);
  EXPECT_EQ(m.n_real(), 500u);
  EXPECT_EQ(m.n_fake(), 500u);
  EXPECT_EQ(m.n_with_mask(), 364u);
  std::map<std::string, std::pair<int, int>> groups;  // group -> (real, fake)
  for (const data::Sample& s : m.samples) {
    (s.label ? groups[s.group].second : groups[s.group].first)++;
    EXPECT_EQ(s.method, s.label ? "dfdc" : "real") << s.path;
  }
  EXPECT_EQ(groups.size(), 500u);
  for (const auto& [group, counts] : groups) EXPECT_EQ(counts, std::make_pair(1, 1)) << group;

  const auto start = std::chrono::steady_clock::now();
  EXPECT_NO_THROW(data::check_images(m));
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  std::cout << "check_images on " << m.samples.size() << " rows: " << took.count() << " s\n";
}

/// A sample to write: paths as the manifest file holds them.
data::Sample row(const std::string& path, int label, const std::string& mask, const std::string& group,
                 const std::string& method) {
  data::Sample s;
  s.path = path;
  s.label = label;
  s.mask = mask;
  s.group = group;
  s.method = method;
  return s;
}

TEST(Manifest, WriteManifestRoundTripsThroughReadManifestQuotingWhatNeedsIt) {
  test::TempDir dir;
  const fs::path ds = dir.path / "ds";
  write_image(ds / "real/a,1.png", 32, 32);
  write_image(ds / "fake/say \"hi\".png", 32, 32);
  write_image(ds / "mask/m,2.png", 32, 32, 1);
  write_image(dir.path / "elsewhere/e.png", 32, 32);
  const std::string absolute = (dir.path / "elsewhere/e.png").string();
  const std::vector<data::Sample> rows = {
      row("real/a,1.png", 0, "", "group, with \"quotes\"", "real"),
      row("fake/say \"hi\".png", 1, "mask/m,2.png", "group, with \"quotes\"", "blend,v2"),
      row(absolute, 0, "", "line\nbreak", "real"),
  };
  const std::string file = (ds / "manifest.csv").string();
  data::write_manifest(file, rows);

  std::ifstream in(file, std::ios::binary);
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header, "path,label,mask,group,method");
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first, "\"real/a,1.png\",0,,\"group, with \"\"quotes\"\"\",real");

  const Manifest m = data::read_manifest(file);
  ASSERT_EQ(m.samples.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const data::Sample& s = m.samples[i];
    const fs::path want = fs::path(rows[i].path).is_absolute() ? fs::path(rows[i].path) : ds / rows[i].path;
    EXPECT_EQ(s.path, want.lexically_normal().string()) << i;
    EXPECT_EQ(s.mask, rows[i].mask.empty() ? "" : (ds / rows[i].mask).lexically_normal().string()) << i;
    EXPECT_EQ(s.label, rows[i].label) << i;
    EXPECT_EQ(s.group, rows[i].group) << i;
    EXPECT_EQ(s.method, rows[i].method) << i;
    EXPECT_EQ(s.line, i + 2) << "one row a line (a line break inside a field only moves the rows after it)";
  }

  // Written again with fewer rows: the file is replaced, not appended to.
  data::write_manifest(file, {rows[0]});
  EXPECT_EQ(data::read_manifest(file).samples.size(), 1u);
}

TEST(Manifest, WriteManifestRefusesWhatReadManifestWouldRefuseWritingNothing) {
  test::TempDir dir;
  const std::string file = dir.file("manifest.csv");
  std::string msg = test::error_message<ConfigError>([&] { data::write_manifest(file, {}); });
  EXPECT_NE(msg.find(file), std::string::npos) << msg;
  EXPECT_NE(msg.find("no samples"), std::string::npos) << msg;
  msg = test::error_message<ConfigError>([&] {
    data::write_manifest(file, {row("a.png", 0, "", "", ""), row("", 1, "", "", ""), row("c.png", 2, "", "", "")});
  });
  EXPECT_NE(msg.find("row 2 (''): empty path"), std::string::npos) << msg;
  EXPECT_NE(msg.find("row 3 ('c.png'): label must be 0 or 1, got 2"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(file));
  EXPECT_TRUE(fs::is_empty(dir.path)) << "no temporary file either";
}

}  // namespace
}  // namespace sola

namespace sola::data {
namespace {
TEST(Manifest, CsvFieldQuotesOnlyWhenNeeded) {
  EXPECT_EQ(csv_field("a/b.png"), "a/b.png");
  EXPECT_EQ(csv_field(""), "");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("x\ny"), "\"x\ny\"");
}
}  // namespace
}  // namespace sola::data
