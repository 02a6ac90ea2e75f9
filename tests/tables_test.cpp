// The tables of `sola eval`: unique names, cells by position, per-method and Table 2 matrices.
#include <gtest/gtest.h>

#include "eval/tables.h"

namespace sola::eval {
namespace {

std::string stem_of_run(const std::string& path) {  // as sola eval names runs/x/best.pt: "x"
  const auto slash = path.rfind('/');
  const auto before = path.rfind('/', slash - 1);
  return path.substr(before + 1, slash - before - 1);
}

TEST(Tables, UniqueNamesPutTheFolderWherePathsPartInFront) {
  const auto names = unique_names({"/w/a/run/best.pt", "/w/b/run/best.pt", "/w/c/other/best.pt"}, stem_of_run);
  EXPECT_EQ(names, (std::vector<std::string>{"a/run", "b/run", "other"}));
  // Equal names deeper down: the first folder where they part.
  EXPECT_EQ(unique_names({"/x/exp1/deep/run/best.pt", "/x/exp2/deep/run/best.pt"}, stem_of_run),
            (std::vector<std::string>{"exp1/run", "exp2/run"}));
  // The same path twice is numbered.
  EXPECT_EQ(unique_names({"/w/a/run/best.pt", "/w/a/run/best.pt"}, stem_of_run),
            (std::vector<std::string>{"run", "run#2"}));
  const auto stem = [](const std::string& p) { return std::string("val"); };
  EXPECT_EQ(unique_names({"/d/d1/val.csv", "/d/d2/val.csv"}, stem), (std::vector<std::string>{"d1/val", "d2/val"}));
}

TableCell cell(size_t m, size_t d, double auc, std::vector<std::pair<std::string, double>> per_method = {}) {
  TableCell c;
  c.model = m;
  c.data = d;
  c.frame.auc = auc;
  c.frame.n = 10;
  c.per_method_auc = std::move(per_method);
  return c;
}

TEST(Tables, EveryMatrixCellIsLookedUpByPositionAndAFailedCellReadsDash) {
  EvalTables t;
  t.models = {"a/run", "b/run"};
  t.train_methods = {"", ""};
  t.data = {"d1/val", "d2/val"};
  t.cells = {cell(1, 1, 0.75), cell(0, 0, 0.5625), cell(1, 0, 0.25)};  // (0, 1) failed
  const std::string md = markdown_tables(t);
  EXPECT_NE(md.find("| a/run | 56.25 | - | 56.25 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| b/run | 25.00 | 75.00 | 50.00 |"), std::string::npos) << md;
}

TEST(Tables, MethodMatrixHasTheTestMethodsAsColumnsAndTheOffDiagonalMean) {
  EvalTables t;
  t.models = {"df", "f2f", "dfdc"};
  t.train_methods = {"Deepfakes", "Face2Face", ""};
  t.data = {"ffpp/test"};
  t.cells = {cell(0, 0, 0.9, {{"Deepfakes", 0.99}, {"Face2Face", 0.70}, {"FaceSwap", 0.80}}),
             cell(1, 0, 0.8, {{"Deepfakes", 0.60}, {"Face2Face", 0.95}, {"FaceSwap", 0.70}}),
             cell(2, 0, 0.7, {{"Deepfakes", 0.78}, {"Face2Face", 0.61}, {"FaceSwap", 0.60}})};
  const std::string md = markdown_tables(t);
  EXPECT_NE(md.find("| model | Deepfakes | Face2Face | FaceSwap | Avg | off-diagonal mean |"), std::string::npos) << md;
  EXPECT_NE(md.find("| df | **99.00** | 70.00 | 80.00 | 83.00 | 75.00 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| f2f | 60.00 | **95.00** | 70.00 | 75.00 | 65.00 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| dfdc | 78.00 | 61.00 | 60.00 | 66.33 | - |"), std::string::npos) << md;
  EXPECT_NE(md.find("Mean of the 4 off-diagonal cells: 70.00"), std::string::npos) << md;
  const std::string text = text_tables(t);
  EXPECT_NE(text.find("per-method frame AUC (%) on ffpp/test"), std::string::npos) << text;
  EXPECT_NE(text.find("*99.00"), std::string::npos) << text;
}

TEST(Tables, OffDiagonalMeanNeedsATrainingMethodAmongTheColumns) {
  const std::vector<std::string> methods{"A", "B", "C"};
  EXPECT_DOUBLE_EQ(*off_diagonal_mean(methods, {0.9, 0.5, 0.7}, "A"), 0.6);
  EXPECT_DOUBLE_EQ(*off_diagonal_mean(methods, {0.9, std::nullopt, 0.7}, "A"), 0.7);
  EXPECT_FALSE(off_diagonal_mean(methods, {0.9, 0.5, 0.7}, "").has_value());
  EXPECT_FALSE(off_diagonal_mean(methods, {0.9, 0.5, 0.7}, "D").has_value());
  EXPECT_FALSE(off_diagonal_mean({"A"}, {0.9}, "A").has_value());
}

}  // namespace
}  // namespace sola::eval
