#include "train/run_summary.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "core/error.h"
#include "core/json_file.h"
#include "train/trainer.h"  // validation_stall: the trainer's own reading of "best" and "since"

namespace sola {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path.string(), "cannot open for reading");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

/// A JSON object file of the run; `what` says what the file is, for the message when it is missing.
json read_object(const fs::path& path, const std::string& what) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw IoError(path.string(), "missing: " + what);
  const json j = read_json_file(path.string());
  if (!j.is_object()) throw IoError(path.string(), std::string("expected a JSON object, got ") + j.type_name());
  return j;
}

/// The lines of metrics.jsonl. A last line without its newline that does not parse was cut short by
/// a killed run: skipped with a warning; any other line that does not parse is an error naming it.
std::vector<json> read_log(const fs::path& path, std::vector<std::string>& warnings) {
  std::error_code ec;
  if (!fs::exists(path, ec))
    throw IoError(path.string(), "missing: the run's log (sola train writes it from the first step)");
  const std::string text = read_text(path);
  std::vector<json> lines;
  size_t start = 0, number = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    const std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    ++number;
    start = end == std::string::npos ? text.size() : end + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() && end == std::string::npos) {
      warnings.push_back(fmt::format("{}: line {} is cut short (a killed run's last write): skipped", path.string(), number));
      continue;
    }
    if (j.is_discarded() || !j.is_object())
      throw IoError(path.string(), fmt::format("line {} is not a JSON object", number));
    if (j.value("type", "") == "epoch" && !(j.contains("epoch") && j["epoch"].is_number_integer()))
      throw IoError(path.string(), fmt::format("line {} is an epoch line without an integer \"epoch\"", number));
    lines.push_back(std::move(j));
  }
  return lines;
}

/// The main validation set's frame AUC of an epoch line (null when it was not validated).
json val_auc(const json& line) {
  if (!line.is_object() || !line.contains("val")) return nullptr;
  const json& frame = line["val"].value("frame", json::object());
  return frame.contains("auc") && frame["auc"].is_number() ? frame["auc"] : json(nullptr);
}

}  // namespace

std::vector<json> unique_epochs(const std::vector<json>& log_lines) {
  std::map<int64_t, json> by_epoch;
  for (const auto& line : log_lines)
    if (line.is_object() && line.value("type", "") == "epoch" && line.contains("epoch") && line["epoch"].is_number_integer())
      by_epoch[line["epoch"].get<int64_t>()] = line;  // a later line of the same epoch replaces the earlier
  std::vector<json> out;
  out.reserve(by_epoch.size());
  for (auto& [epoch, line] : by_epoch) out.push_back(std::move(line));
  return out;
}

std::string checkpoint_name(const std::string& path) {
  const fs::path p = fs::absolute(path).lexically_normal();
  const std::string run = p.parent_path().filename().string();
  if (p.stem() == "best") return run;
  if (p.stem() == "last") return run + "/last";
  return p.stem().string();
}

int64_t RunSummary::planned_epochs() const {
  const json train = config.value("train", json::object());
  return train.contains("epochs") && train["epochs"].is_number_integer() ? train["epochs"].get<int64_t>() : 0;
}

std::string RunSummary::stop_reason() const {
  if (!stops.empty() && stops.back().contains("reason") && stops.back()["reason"].is_string())
    return stops.back()["reason"].get<std::string>();
  if (done.is_object() && done.contains("stopped_early") && done["stopped_early"].is_string())
    return done["stopped_early"].get<std::string>();
  return "";
}

std::string RunSummary::status() const {
  if (!stops.empty() || (done.is_object() && done.contains("stopped_early"))) return "stopped early";
  return done.is_object() ? "finished" : "unfinished";
}

int64_t RunSummary::best_epoch() const {
  for (const auto& b : validation_stall(epochs).best)
    if (b.set == "val") return b.epoch;
  return 0;
}

json RunSummary::epoch_line(int64_t epoch) const {
  for (const auto& line : epochs)
    if (line["epoch"].get<int64_t>() == epoch) return line;
  return nullptr;
}

json RunSummary::median(const std::string& key) const {
  std::vector<double> values;
  for (const auto& line : epochs)
    if (line.contains(key) && line[key].is_number()) values.push_back(line[key].get<double>());
  if (values.empty()) return nullptr;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

double RunSummary::total(const std::string& key) const {
  double sum = 0;
  for (const auto& line : epochs)
    if (line.contains(key) && line[key].is_number()) sum += line[key].get<double>();
  return sum;
}

json RunSummary::to_json() const {
  const ValidationStall stall = validation_stall(epochs);
  json best = json::array();
  for (const auto& b : stall.best) best.push_back({{"set", b.set}, {"auc", b.auc}, {"epoch", b.epoch}});
  const json last = epochs.empty() ? json(nullptr) : epochs.back();
  const int64_t steps = last.is_object() ? last.value("global_step", int64_t{0}) : 0;
  const int64_t batch = config.value("train", json::object()).value("batch_size", int64_t{0});
  const std::string reason = stop_reason();
  const int64_t best_at = best_epoch();
  return json{{"name", name},
              {"dir", dir},
              {"status", status()},
              {"stop_reason", reason.empty() ? json(nullptr) : json(reason)},
              {"epochs_planned", planned_epochs()},
              {"epochs_done", epochs.size()},
              {"last_epoch", last.is_object() ? last["epoch"] : json(nullptr)},
              {"best_epoch", best_at > 0 ? json(best_at) : json(nullptr)},
              {"val_auc", {{"best", val_auc(epoch_line(best_at))}, {"last", val_auc(last)}}},
              {"best", best},
              {"epochs_since_improvement", stall.epochs_since_improvement},
              {"steps", steps},
              {"images", steps * batch},
              {"train_seconds", total("train_seconds")},
              {"validate_seconds", total("validate_seconds")},
              {"train_images_per_second", median("train_images_per_second")},
              {"data_wait_share", median("data_wait_share")},
              {"checkpoints",
               {{"best", checkpoint_name((fs::path(dir) / "best.pt").string())},
                {"last", checkpoint_name((fs::path(dir) / "last.pt").string())}}},
              {"command", command.empty() ? json(nullptr) : json(command)},
              {"command_file", command_file.empty() ? json(nullptr) : json(command_file)},
              {"config", config},
              {"done", done},
              {"stops", stops},
              {"warnings", warnings},
              {"epochs", epochs}};
}

RunSummary read_run(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw IoError(dir, fs::exists(dir, ec) ? "not a folder (expected a sola train run folder)" : "no such run folder");
  const fs::path folder = fs::absolute(dir).lexically_normal();
  const fs::path base = folder.filename().empty() ? folder.parent_path() : folder;  // "runs/x/" -> runs/x
  RunSummary run;
  run.dir = dir;
  run.name = base.filename().string();
  run.config = read_object(fs::path(dir) / "config.json", "the run's configuration (sola train writes it at the start)");
  const std::vector<json> log = read_log(fs::path(dir) / "metrics.jsonl", run.warnings);
  run.epochs = unique_epochs(log);
  for (const auto& line : log)
    if (line.value("type", "") == "stop") run.stops.push_back(line);
  const fs::path done = fs::path(dir) / "done.json";
  if (fs::exists(done, ec)) run.done = read_object(done, "");
  for (const fs::path& file : {fs::path(dir) / "command.txt", base.parent_path() / (run.name + ".command.txt")}) {
    if (!fs::is_regular_file(file, ec)) continue;
    run.command = read_text(file);
    while (!run.command.empty() && std::isspace(static_cast<unsigned char>(run.command.back()))) run.command.pop_back();
    run.command_file = file.string();
    break;
  }
  return run;
}

std::string runs_table(const std::vector<RunSummary>& runs) {
  size_t width = 3;
  for (const auto& r : runs) width = std::max(width, r.name.size());
  auto auc = [](const json& v) { return v.is_number() ? fmt::format("{:.4f}", v.get<double>()) : std::string("-"); };
  std::string out = fmt::format("{:<{}}  {:<13}  {:>7}  {:>5}  {:>8}  {:>8}  {:>9}\n", "run", width, "status", "epochs",
                                "best", "val best", "val last", "train min");
  std::string reasons;
  for (const auto& r : runs) {
    const json j = r.to_json();
    out += fmt::format("{:<{}}  {:<13}  {:>7}  {:>5}  {:>8}  {:>8}  {:>9.0f}\n", r.name, width, r.status(),
                       fmt::format("{}/{}", r.epochs.size(), r.planned_epochs()),
                       j["best_epoch"].is_null() ? "-" : std::to_string(j["best_epoch"].get<int64_t>()),
                       auc(j["val_auc"]["best"]), auc(j["val_auc"]["last"]), r.total("train_seconds") / 60);
    if (!r.stop_reason().empty()) reasons += fmt::format("{}: {}\n", r.name, r.stop_reason());
    for (const auto& w : r.warnings) reasons += fmt::format("{}: warning: {}\n", r.name, w);
  }
  return out + reasons;
}

}  // namespace sola
