#pragma once
// The tables `sola eval` prints and writes: one row per (model, test set), the per-method frame
// AUC, and the paper's Table 2 forms: models x test sets, and models x test methods with the mean
// of the off-diagonal cells (a model's own training method is its diagonal).
// Plain C++17, no LibTorch: cells are looked up by position, never by name.
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "eval/metrics.h"

namespace sola::eval {

/// Display names for `paths`: `base(path)` for each; where several paths share a name, the folders
/// above each are put in front, one at a time, until the names differ ("a/run", "b/run"); the same
/// path given twice is numbered ("run", "run#2").
std::vector<std::string> unique_names(const std::vector<std::string>& paths,
                                      const std::function<std::string(const std::string&)>& base);

/// One evaluation: model `model` (an index into EvalTables::models) on test set `data`.
struct TableCell {
  size_t model = 0, data = 0;
  Metrics frame, video;
  std::optional<double> map_auc;                              ///< the anomaly maps alone (SOLA models)
  std::optional<double> ece;                                  ///< expected calibration error of the scores
  std::vector<std::pair<std::string, double>> per_method_auc;  ///< each method's fakes against all reals
};

struct EvalTables {
  std::vector<std::string> models;         ///< unique display names
  std::vector<std::string> train_methods;  ///< per model: the one method it was trained on, or "" (unknown, several)
  std::vector<std::string> data;           ///< unique display names of the test sets
  std::string data_suffix;                 ///< after every test-set name, e.g. " +blur:1"
  double threshold = 0.5;
  std::vector<TableCell> cells;            ///< the evaluations that succeeded, any order

  /// The cell of (model, data), or nullptr where that evaluation failed.
  const TableCell* find(size_t model, size_t data) const;
  /// The methods of test set `data` over all its cells, in order of first appearance.
  std::vector<std::string> methods_of(size_t data) const;
};

/// The fixed-width text table of every cell (stdout), followed by the per-method frame AUC where a
/// test set holds more than one method.
std::string text_tables(const EvalTables& t);

/// Markdown: the table of every cell; the per-method frame AUC where a test set holds more than one
/// method; with several models and several test sets, the models x test sets matrix; with several
/// methods in a test set, the models x methods matrix of it (Table 2: columns are the test methods;
/// where a model's training method is one of them, that cell is its diagonal, marked, and the row's
/// off-diagonal mean is given, and the mean of all off-diagonal cells below). A failed cell reads "-".
std::string markdown_tables(const EvalTables& t);

/// The mean of the row's cells other than its training method's, or nothing without a training
/// method among `methods` or without another cell. `aucs[i]` is method i's AUC, nullopt where missing.
std::optional<double> off_diagonal_mean(const std::vector<std::string>& methods,
                                        const std::vector<std::optional<double>>& aucs,
                                        const std::string& train_method);

}  // namespace sola::eval
