// sola pack: a packed bundle (one file of JPEG crops and PNG masks with a JSON index) from
// manifests, within a size limit, for training without OpenCV (sola_train_packed on the GPU machine).
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "data/manifest.h"
#include "data/pack.h"

namespace sola::cli {
namespace {

struct PackCliOptions {
  std::vector<std::string> manifests;
  std::string out;
  data::PackOptions pack;
  bool no_masks = false;
  int threads = 0;
};

int run_pack(const PackCliOptions& opts) {
  data::PackOptions o = opts.pack;
  o.masks = !opts.no_masks;
  const auto manifest = data::read_manifests(opts.manifests);
  const auto r = data::pack_manifest(manifest, opts.out, o, static_cast<unsigned>(std::max(0, opts.threads)));
  std::cout << json_line({{"out", opts.out},
                          {"bytes", r.bytes},
                          {"images", r.images},
                          {"groups", r.groups},
                          {"with_mask", r.with_mask},
                          {"reencoded", r.reencoded},
                          {"left_out_images", r.left_out_images},
                          {"left_out_groups", r.left_out_groups}})
            << std::endl;
  return kOk;
}

}  // namespace

void setup_pack(CLI::App& app) {
  auto opts = std::make_shared<PackCliOptions>();
  auto* sub = app.add_subcommand("pack", "Pack manifests' crops and masks into one bundle file for sola_train_packed "
                                         "(whole groups in a seeded order, up to --max-mib)");
  sub->add_option("--manifest", opts->manifests, "manifest CSV (repeatable: combined)")->required()->allow_extra_args(false);
  sub->add_option("--out", opts->out, "bundle file to write")->required();
  sub->add_option("--image-size", opts->pack.image_size,
                  "side of the stored crops; JPEG crops of this size keep their bytes, others are resized and encoded")
      ->capture_default_str();
  sub->add_option("--quality", opts->pack.quality, "JPEG quality of crops encoded again")->capture_default_str();
  sub->add_option("--mask-size", opts->pack.mask_size, "side of the stored masks (area-reduced)")->capture_default_str();
  sub->add_flag("--no-masks", opts->no_masks, "store no masks (a validation bundle needs none)");
  sub->add_option("--max-mib", opts->pack.max_mib, "size limit of the bundle in MiB (0: none)")->capture_default_str();
  sub->add_option("--seed", opts->pack.seed, "seed of the groups' order")->capture_default_str();
  add_threads_option(sub, opts->threads);
  sub->callback([opts] {
    if (int code = run_pack(*opts); code != kOk) throw CLI::RuntimeError(code);
  });
}

}  // namespace sola::cli
