// FaceForensics++ (with DeepFakeDetection and FaceShifter): import_ffpp. The layout it reads, the
// splits and the groups: data/importers.h.
#include "data/importers.h"

#include <algorithm>
#include <iterator>
#include <unordered_map>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/importers_common.h"
#include "data/video.h"

namespace sola::data {
using namespace importers;  // the importers' shared helpers (data/importers_common.h)

namespace {

/// The official FaceForensics++ splits, in file order.
const char* const kSplitNames[] = {"train", "val", "test"};

/// The manipulations imported when FfppOptions::methods is empty.
const char* const kDefaultMethods[] = {"Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter"};

constexpr const char* kDfdMethod = "DeepFakeDetection";

/// Folder names tried for a compression value, in order. Throws ConfigError for an unknown one.
std::vector<std::string> compression_folders(const std::string& compression) {
  const std::string c = lower(compression);
  if (c == "raw" || c == "c0") return {"raw", "c0"};
  if (c == "c23" || c == "c40") return {c};
  throw ConfigError("FaceForensics++ compression '" + compression + "' is not one of raw (= c0), c23, c40");
}

/// Where one FF++ source keeps its media: <src>/<comp>/videos, else <src>/<comp>/images.
struct MediaDir {
  fs::path dir;
  bool frames = false;  ///< an images folder of frame folders
};

/// The media folder of `source` (e.g. "original_sequences/youtube") under `root`, or an empty dir.
MediaDir find_media_dir(const fs::path& root, const std::string& source, const std::vector<std::string>& comps) {
  for (const char* kind : {"videos", "images"}) {
    for (const std::string& comp : comps) {
      const fs::path dir = root / source / comp / kind;
      if (is_dir(dir)) return {dir, std::string(kind) == "images"};
    }
  }
  return {};
}

/// "original_sequences/youtube/c23/videos (or .../c23/images)" for messages.
std::string expected_dirs(const std::string& source, const std::vector<std::string>& comps) {
  return source + "/" + comps.front() + "/videos (or " + source + "/" + comps.front() + "/images)";
}

/// The media of a FF++ source folder; throws IoError naming the root when the folder is missing
/// and the folder when it holds no media.
std::vector<Medium> ffpp_media(const fs::path& root, const std::string& source, const std::vector<std::string>& comps,
                               const std::string& why) {
  const MediaDir md = find_media_dir(root, source, comps);
  if (md.dir.empty()) {
    throw IoError(root.string(), "no " + expected_dirs(source, comps) + " folder" + why +
                                     " (expected the layout of the FaceForensics++ download script)");
  }
  std::vector<Medium> media = list_media(md.dir, md.frames ? Take::kFolders : Take::kVideos);
  if (media.empty()) {
    throw IoError(md.dir.string(), md.frames ? "no frame folders in it" : "no video files in it");
  }
  return media;
}

/// The official splits: video id -> split, and "a_b" -> split for each pair [a, b] (both orders).
struct Splits {
  bool used = false;
  std::unordered_map<std::string, std::string> video;
  std::unordered_map<std::string, std::string> pair;
};
Splits read_splits(const fs::path& root, const FfppOptions& options) {
  Splits s;
  const bool named = !options.splits_dir.empty();
  const fs::path dir = named ? fs::path(options.splits_dir) : root / "splits";
  if (!is_dir(dir)) {
    if (named) throw IoError(dir.string(), "splits folder not found (expected train.json, val.json, test.json in it)");
    return s;
  }
  s.used = true;
  std::unordered_map<std::string, std::string> file_of;  // video id -> split file it was read from
  for (const char* split : kSplitNames) {
    const fs::path file = dir / (std::string(split) + ".json");
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) {
      throw IoError(file.string(),
                    "FaceForensics++ split file not found (a JSON list of pairs of video ids, "
                    "[[\"953\", \"974\"], ...], as in the FaceForensics repository's dataset/splits)");
    }
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_text_file(file));
    } catch (const nlohmann::json::parse_error& e) {
      throw IoError(file.string(), std::string("not valid JSON: ") + e.what());
    }
    if (!j.is_array()) throw IoError(file.string(), "expected a JSON list of pairs such as [[\"953\", \"974\"], ...]");
    for (size_t i = 0; i < j.size(); ++i) {
      const nlohmann::json& p = j[i];
      const bool ok = p.is_array() && p.size() == 2 && p[0].is_string() && p[1].is_string() &&
                      !p[0].get<std::string>().empty() && !p[1].get<std::string>().empty();
      if (!ok) {
        throw IoError(file.string(), "entry " + std::to_string(i + 1) + " is " + p.dump() +
                                         ", expected a pair of video id strings such as [\"953\", \"974\"]");
      }
      const std::string a = p[0].get<std::string>(), b = p[1].get<std::string>();
      for (const std::string& id : {a, b}) {
        const auto [it, inserted] = s.video.emplace(id, split);
        if (!inserted && it->second != split) {
          throw IoError(file.string(), "video '" + id + "' is also in " + file_of[id] + "; splits must not overlap");
        }
        file_of.emplace(id, file.filename().string());
      }
      s.pair[a + "_" + b] = split;
      s.pair[b + "_" + a] = split;
    }
  }
  return s;
}

/// The official method names for `requested` (any case), deduplicated; ConfigError for unknown ones.
std::vector<std::string> resolve_methods(const std::vector<std::string>& requested) {
  const std::vector<std::string> known = ffpp_methods();
  std::vector<std::string> out;
  for (const std::string& r : requested) {
    auto it = std::find_if(known.begin(), known.end(), [&](const std::string& k) { return lower(k) == lower(r); });
    if (it == known.end()) {
      throw ConfigError("FaceForensics++ method '" + r + "' is not one of " + join(known, ", "));
    }
    if (std::find(out.begin(), out.end(), *it) == out.end()) out.push_back(*it);
  }
  return out;
}

/// Mask videos and mask frame folders of one manipulation, by stem.
struct MaskIndex {
  bool present = false;  ///< a masks/videos or masks/images folder exists
  std::unordered_map<std::string, std::string> videos, folders;

  /// The mask of `m`: of the same kind as the input where there is one, else of the other kind.
  std::string find(const Medium& m) const {
    const auto& same = m.folder ? folders : videos;
    const auto& other = m.folder ? videos : folders;
    if (auto it = same.find(m.stem); it != same.end()) return it->second;
    if (auto it = other.find(m.stem); it != other.end()) return it->second;
    return {};
  }
};

MaskIndex index_masks(const fs::path& method_dir) {
  MaskIndex idx;
  const fs::path videos = method_dir / "masks" / "videos", images = method_dir / "masks" / "images";
  if (is_dir(videos)) {
    idx.present = true;
    for (const Medium& m : list_media(videos, Take::kVideos)) idx.videos.emplace(m.stem, m.path);
  }
  if (is_dir(images)) {
    idx.present = true;
    for (const Medium& m : list_media(images, Take::kFolders)) idx.folders.emplace(m.stem, m.path);
  }
  return idx;
}

/// The group of youtube video `stem` and of every fake made on it.
std::string youtube_group(const std::string& stem) { return "youtube/" + stem; }

/// The group of a FF++ fake "TARGET_SOURCE" (000_003): its target video's, "youtube/000"; empty
/// when the name is not of that form.
std::string ffpp_fake_group(const std::string& stem) {
  const size_t us = stem.find('_');
  if (us == 0 || us == std::string::npos || us + 1 == stem.size()) return {};
  return youtube_group(stem.substr(0, us));
}

/// The group of DFD original `stem` (01__exit_phone_room) and of its fakes.
std::string actors_group(const std::string& stem) { return "actors/" + stem; }

/// The group of a DFD fake "TARGET_SOURCE__SCENE__ID" (01_02__exit_phone_room__YVGY8LOK): that of
/// the original TARGET__SCENE, "actors/01__exit_phone_room"; empty when the name is not of that form.
std::string dfd_fake_group(const std::string& stem) {
  const size_t sep = stem.find("__");
  if (sep == std::string::npos) return {};
  const std::string pair = stem.substr(0, sep);
  const size_t scene_end = stem.find("__", sep + 2);
  const std::string scene = stem.substr(sep + 2, scene_end == std::string::npos ? std::string::npos : scene_end - sep - 2);
  const size_t us = pair.find('_');
  if (us == 0 || us == std::string::npos || us + 1 == pair.size() || scene.empty()) return {};
  return actors_group(pair.substr(0, us) + "__" + scene);
}

/// Adds the items of one FF++ source to `out`, splitting and noting as the options say.
class FfppBuilder {
 public:
  FfppBuilder(const FfppOptions& options, const Splits& splits, ImportResult& out)
      : options_(options), splits_(splits), out_(out) {}

  /// `name`: method or "youtube"/"actors" for notes; `split_of(stem)` -> split or nullptr when in none;
  /// `group_of(stem)` -> the group (of the original the video was made from), or empty when the
  /// name does not say (the video then gets a group of its own, its folder, and a note).
  template <class SplitOf, class GroupOf>
  void add(const std::vector<Medium>& media, const std::string& name, int label, const std::string& method,
           const std::string& folder_prefix, const MaskIndex* masks, SplitOf split_of, GroupOf group_of) {
    std::vector<std::string> unsplit, unmasked, ungrouped;
    for (const Medium& m : media) {
      PrepareItem item;
      item.input = m.path;
      item.label = label;
      item.method = method;
      item.folder = folder_prefix + "/" + m.stem;
      item.group = group_of(m.stem);
      if (item.group.empty()) {
        item.group = item.folder;
        ungrouped.push_back(m.stem);
      }
      if (splits_.used) {
        const std::string* split = split_of(m.stem);
        if (!split) {
          unsplit.push_back(m.stem);
          if (!options_.keep_unsplit) continue;
        } else {
          item.split = *split;
        }
      }
      if (masks) {
        item.mask = masks->find(m);
        if (item.mask.empty()) unmasked.push_back(m.stem);
      }
      out_.items.push_back(std::move(item));
    }
    if (!unsplit.empty()) {
      out_.notes.push_back(name + ": " + std::to_string(unsplit.size()) + " of " + std::to_string(media.size()) +
                           " videos are in no split file, " + (options_.keep_unsplit ? "kept with no split" : "left out") +
                           " (" + examples(unsplit) + ")");
    }
    if (!unmasked.empty()) {
      out_.notes.push_back(name + ": " + std::to_string(unmasked.size()) + " imported videos have no mask (" +
                           examples(unmasked) + ")");
    }
    if (!ungrouped.empty()) {
      out_.notes.push_back(name + ": " + std::to_string(ungrouped.size()) +
                           " videos are named unlike TARGET_SOURCE, so their original is unknown: each is a group "
                           "of its own (" + examples(ungrouped) + ")");
    }
  }

 private:
  const FfppOptions& options_;
  const Splits& splits_;
  ImportResult& out_;
};

}  // namespace

std::vector<std::string> ffpp_methods() {
  std::vector<std::string> out(std::begin(kDefaultMethods), std::end(kDefaultMethods));
  out.push_back(kDfdMethod);
  return out;
}

ImportResult import_ffpp(const std::string& root_str, const FfppOptions& options) {
  const std::vector<std::string> comps = compression_folders(options.compression);
  std::vector<std::string> methods = resolve_methods(options.methods);
  check_split_name(options.dfd_split, "FaceForensics++ dfd_split");
  const bool explicit_methods = !methods.empty();
  bool dfd = options.dfd;
  if (auto it = std::find(methods.begin(), methods.end(), kDfdMethod); it != methods.end()) {
    dfd = true;
    methods.erase(it);
  }
  if (!explicit_methods) methods.assign(std::begin(kDefaultMethods), std::end(kDefaultMethods));

  const fs::path root(root_str);
  if (!is_dir(root)) throw IoError(root_str, "FaceForensics++ root folder not found");
  ImportResult out;
  const Splits splits = read_splits(root, options);
  FfppBuilder builder(options, splits, out);

  // Youtube originals: the real half of FaceForensics++.
  const auto youtube = ffpp_media(root, "original_sequences/youtube", comps, "");
  builder.add(
      youtube, "youtube", 0, "real", "real", nullptr,
      [&](const std::string& stem) -> const std::string* {
        auto it = splits.video.find(stem);
        return it == splits.video.end() ? nullptr : &it->second;
      },
      youtube_group);
  auto pair_split = [&](const std::string& stem) -> const std::string* {
    auto it = splits.pair.find(stem);
    return it == splits.pair.end() ? nullptr : &it->second;
  };

  // The masks of a manipulation (none when include_masks is off), noting their absence.
  auto masks_of = [&](const std::string& method, const std::string& source) {
    MaskIndex masks;
    if (!options.include_masks) return masks;
    masks = index_masks(root / source);
    if (!masks.present && method != "FaceShifter") {  // FaceShifter is published without masks
      out.notes.push_back(method + ": no masks (" + source + "/masks/videos not found)");
    }
    return masks;
  };

  size_t methods_found = 0;
  for (const std::string& method : methods) {
    const std::string source = "manipulated_sequences/" + method;
    if (!explicit_methods && find_media_dir(root, source, comps).dir.empty()) {
      out.notes.push_back(method + ": no " + expected_dirs(source, comps) + " under " + root_str + ", left out");
      continue;
    }
    const auto media = ffpp_media(root, source, comps, " (method " + method + " was asked for)");
    const MaskIndex masks = masks_of(method, source);
    builder.add(media, method, 1, method, method, masks.present ? &masks : nullptr, pair_split, ffpp_fake_group);
    ++methods_found;
  }
  if (!methods.empty() && methods_found == 0 && !dfd) {
    // Originals alone: nothing to tell fakes from. Say where fakes are, if at another compression.
    std::vector<std::string> elsewhere;
    for (const char* c : {"raw", "c23", "c40"}) {
      const std::vector<std::string> other = compression_folders(c);
      if (other == comps) continue;
      for (const std::string& method : methods) {
        if (!find_media_dir(root, "manipulated_sequences/" + method, other).dir.empty()) {
          elsewhere.push_back(std::string(c));
          break;
        }
      }
    }
    throw IoError(root_str, "originals but no fakes at compression " + options.compression + ": none of " +
                                join(methods, ", ") + " has manipulated_sequences/<method>/" + comps.front() +
                                "/videos (or images)" +
                                (elsewhere.empty() ? std::string()
                                                   : "; fakes exist at " + join(elsewhere, ", ") +
                                                         " (choose it with --compression)"));
  }

  if (dfd) {
    // DeepFakeDetection: its own reals (actors) and fakes, in no official split.
    auto dfd_split = [&](const std::string&) -> const std::string* { return &options.dfd_split; };
    const auto actors = ffpp_media(root, "original_sequences/actors", comps, " (DeepFakeDetection reals)");
    builder.add(actors, "actors", 0, "real", "actors", nullptr, dfd_split, actors_group);
    const std::string source = std::string("manipulated_sequences/") + kDfdMethod;
    const auto fakes = ffpp_media(root, source, comps, " (DeepFakeDetection fakes)");
    const MaskIndex masks = masks_of(kDfdMethod, source);
    builder.add(fakes, kDfdMethod, 1, kDfdMethod, kDfdMethod, masks.present ? &masks : nullptr, dfd_split,
                dfd_fake_group);
  }
  if (!splits.used) {
    out.notes.push_back("no splits folder (" + normal(root / "splits") +
                        "): every input gets no split; FaceForensics++'s train/val/test.json give the official ones");
  }
  return out;
}

}  // namespace sola::data
