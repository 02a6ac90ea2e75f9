#include "eval/tables.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include <fmt/format.h>

namespace sola::eval {
namespace fs = std::filesystem;

namespace {

std::string pct(double v) { return fmt::format("{:.2f}", 100 * v); }
std::string pct(const std::optional<double>& v) { return v ? pct(*v) : std::string("-"); }

std::optional<double> method_auc(const TableCell* cell, const std::string& method) {
  if (!cell) return std::nullopt;
  for (const auto& [m, auc] : cell->per_method_auc)
    if (m == method) return auc;
  return std::nullopt;
}

}  // namespace

std::vector<std::string> unique_names(const std::vector<std::string>& paths,
                                      const std::function<std::string(const std::string&)>& base) {
  std::vector<std::string> names;
  std::vector<std::vector<std::string>> parts;  // the components of each absolute path
  for (const auto& p : paths) {
    names.push_back(base(p));
    parts.emplace_back();
    for (const auto& c : fs::absolute(p).lexically_normal()) parts.back().push_back(c.string());
  }
  // Paths that share a name get, in front, the first folder where they part ("a/run", "b/run").
  std::map<std::string, std::vector<size_t>> by_name;
  for (size_t i = 0; i < names.size(); ++i) by_name[names[i]].push_back(i);
  for (const auto& [name, idx] : by_name) {
    if (idx.size() < 2) continue;
    size_t common = 0;  // components shared by all of them
    for (bool same = true; same; ++common)
      for (size_t i : idx)
        if (common >= parts[i].size() || parts[i][common] != parts[idx[0]][common]) {
          same = false;
          break;
        }
    --common;
    for (size_t i : idx) {
      if (common >= parts[i].size()) continue;  // the same path again: numbered below
      if (common + 1 < parts[i].size())
        names[i] = parts[i][common] + "/" + names[i];  // a folder
      else
        names[i] += " (" + parts[i][common] + ")";  // the file names differ
    }
  }
  // Still equal (the same path twice): numbered in order.
  std::map<std::string, int> seen;
  for (auto& n : names)
    if (int k = ++seen[n]; k > 1) n += "#" + std::to_string(k);
  return names;
}

const TableCell* EvalTables::find(size_t model, size_t data_index) const {
  for (const auto& c : cells)
    if (c.model == model && c.data == data_index) return &c;
  return nullptr;
}

std::vector<std::string> EvalTables::methods_of(size_t data_index) const {
  std::vector<std::string> out;
  for (const auto& c : cells)
    if (c.data == data_index)
      for (const auto& [m, auc] : c.per_method_auc)
        if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(m);
  return out;
}

std::optional<double> off_diagonal_mean(const std::vector<std::string>& methods,
                                        const std::vector<std::optional<double>>& aucs,
                                        const std::string& train_method) {
  if (train_method.empty() || std::find(methods.begin(), methods.end(), train_method) == methods.end())
    return std::nullopt;
  double sum = 0;
  int n = 0;
  for (size_t i = 0; i < methods.size() && i < aucs.size(); ++i)
    if (methods[i] != train_method && aucs[i]) {
      sum += *aucs[i];
      ++n;
    }
  if (n == 0) return std::nullopt;
  return sum / n;
}

std::string text_tables(const EvalTables& t) {
  std::string out = fmt::format("{:<24} {:<24} {:>7} {:>9} {:>9} {:>7} {:>7} {:>7} {:>7} {:>7}\n", "model", "data", "n",
                                "frameAUC", "videoAUC", "AP", "EER", "ACC", "ECE", "mapAUC");
  for (size_t m = 0; m < t.models.size(); ++m)
    for (size_t d = 0; d < t.data.size(); ++d)
      if (const TableCell* c = t.find(m, d))
        out += fmt::format("{:<24} {:<24} {:>7} {:>9} {:>9} {:>7} {:>7} {:>7} {:>7} {:>7}\n", t.models[m],
                           t.data[d] + t.data_suffix, c->frame.n, pct(c->frame.auc), pct(c->video.auc), pct(c->frame.ap),
                           pct(c->frame.eer), pct(c->frame.acc), pct(c->ece), pct(c->map_auc));
  for (size_t d = 0; d < t.data.size(); ++d) {
    const auto methods = t.methods_of(d);
    if (methods.size() < 2) continue;
    out += fmt::format("\nper-method frame AUC (%) on {}{}: each method's fakes against all reals\n{:<24}", t.data[d],
                       t.data_suffix, "model");
    for (const auto& m : methods) out += fmt::format(" {:>15}", m);
    out += fmt::format(" {:>9}\n", "mean");
    for (size_t m = 0; m < t.models.size(); ++m) {
      const TableCell* c = t.find(m, d);
      if (!c) continue;
      out += fmt::format("{:<24}", t.models[m]);
      double sum = 0;
      int n = 0;
      for (const auto& method : methods) {
        const auto auc = method_auc(c, method);
        std::string cell = pct(auc);
        if (method == t.train_methods[m]) cell = "*" + cell;  // the model's own training method
        out += fmt::format(" {:>15}", cell);
        if (auc) sum += *auc, ++n;
      }
      out += fmt::format(" {:>9}\n", n ? pct(sum / n) : "-");
    }
  }
  return out;
}

std::string markdown_tables(const EvalTables& t) {
  std::string md = fmt::format(
      "| model | test set | images | frame AUC | video AUC | AP | EER | ACC@{} | ECE | map AUC |\n", t.threshold);
  md += "|---|---|---|---|---|---|---|---|---|---|\n";
  for (size_t m = 0; m < t.models.size(); ++m)
    for (size_t d = 0; d < t.data.size(); ++d)
      if (const TableCell* c = t.find(m, d))
        md += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", t.models[m], t.data[d] + t.data_suffix,
                          c->frame.n, pct(c->frame.auc), pct(c->video.auc), pct(c->frame.ap), pct(c->frame.eer),
                          pct(c->frame.acc), pct(c->ece), pct(c->map_auc));
  if (t.models.size() > 1 && t.data.size() > 1) {
    // Table 2 form over test sets: one row per model, one column per test set, frame AUC, average.
    md += "\nFrame AUC (%), rows: model, columns: test set\n\n| model |";
    for (const auto& d : t.data) md += " " + d + t.data_suffix + " |";
    md += " Avg |\n|---|";
    for (size_t d = 0; d < t.data.size(); ++d) md += "---|";
    md += "---|\n";
    for (size_t m = 0; m < t.models.size(); ++m) {
      md += "| " + t.models[m] + " |";
      double sum = 0;
      int n = 0;
      for (size_t d = 0; d < t.data.size(); ++d) {
        const TableCell* c = t.find(m, d);
        md += " " + (c ? pct(c->frame.auc) : std::string("-")) + " |";
        if (c) sum += c->frame.auc, ++n;
      }
      md += " " + (n ? pct(sum / n) : std::string("-")) + " |\n";
    }
  }
  for (size_t d = 0; d < t.data.size(); ++d) {
    const auto methods = t.methods_of(d);
    if (methods.size() < 2) continue;
    // Table 2 form over methods: rows models, columns the test methods of this set.
    bool any_diagonal = false;
    for (const auto& tm : t.train_methods)
      any_diagonal |= std::find(methods.begin(), methods.end(), tm) != methods.end();
    md += fmt::format("\nFrame AUC (%) per test method on {}{} (each method's fakes against all its reals); rows: "
                      "model{}\n\n| model |",
                      t.data[d], t.data_suffix,
                      any_diagonal ? "; **bold**: the model's own training method (the diagonal)" : "");
    for (const auto& m : methods) md += " " + m + " |";
    md += " Avg |";
    if (any_diagonal) md += " off-diagonal mean |";
    md += "\n|---|";
    for (size_t i = 0; i < methods.size(); ++i) md += "---|";
    md += any_diagonal ? "---|---|\n" : "---|\n";
    double off_sum = 0;
    int off_n = 0;
    for (size_t m = 0; m < t.models.size(); ++m) {
      const TableCell* c = t.find(m, d);
      md += "| " + t.models[m] + " |";
      std::vector<std::optional<double>> aucs;
      double sum = 0;
      int n = 0;
      for (const auto& method : methods) {
        aucs.push_back(method_auc(c, method));
        const std::string v = pct(aucs.back());
        md += " " + (method == t.train_methods[m] && aucs.back() ? "**" + v + "**" : v) + " |";
        if (aucs.back()) {
          sum += *aucs.back();
          ++n;
          if (!t.train_methods[m].empty() && method != t.train_methods[m] &&
              std::find(methods.begin(), methods.end(), t.train_methods[m]) != methods.end())
            off_sum += *aucs.back(), ++off_n;
        }
      }
      md += " " + (n ? pct(sum / n) : std::string("-")) + " |";
      if (any_diagonal) md += " " + pct(off_diagonal_mean(methods, aucs, t.train_methods[m])) + " |";
      md += "\n";
    }
    if (any_diagonal && off_n > 0)
      md += fmt::format("\nMean of the {} off-diagonal cells: {}\n", off_n, pct(off_sum / off_n));
  }
  return md;
}

}  // namespace sola::eval
