# The library's source files, one list per library, read by the main build (CMakeLists.txt) and by
# the fuzz build (fuzz/CMakeLists.txt), so that a file added to a library reaches both. Paths are
# relative to the source root (fuzz/CMakeLists.txt prepends it).

# core + model: the library every tool links; no OpenCV
set(SOLA_CORE_SOURCES
  src/core/error.cpp
  src/core/runtime.cpp
  src/core/parallel.cpp
  src/core/atomic_file.cpp
  src/core/json_diff.cpp
  src/core/json_file.cpp
  src/core/precision.cpp
  src/model/options.cpp
  src/model/resnet.cpp
  src/model/asrm.cpp
  src/model/dcam.cpp
  src/model/lem.cpp
  src/model/sola_head.cpp
  src/model/sola_net.cpp
  src/model/flops.cpp
  src/model/checkpoint.cpp
  src/model/export.cpp
  src/model/pretrained.cpp
  src/model/fuse.cpp
  src/loss/anomaly_loss.cpp
  src/train/distributed.cpp
  src/eval/metrics.cpp
  src/eval/tables.cpp
  src/eval/calibration.cpp
)

# training: the trainer, evaluation runs and packed bundles; no OpenCV (stb_image decodes)
set(SOLA_TRAIN_SOURCES
  src/data/augment_plan.cpp
  src/data/sample_source.cpp
  src/data/packed.cpp
  src/eval/evaluate.cpp
  src/train/progress.cpp
  src/train/train_options.cpp
  src/train/lr_schedule.cpp
  src/train/trainer.cpp
  src/train/packed_run.cpp
  src/train/run_summary.cpp
  src/train/recipe.cpp
)

# pipeline: data I/O, faces, detection, manifest training, plots (OpenCV, dlib)
set(SOLA_PIPELINE_SOURCES
  src/data/image.cpp
  src/data/image_header.cpp
  src/data/manifest.cpp
  src/data/augment.cpp
  src/data/perturb.cpp
  src/data/dataset.cpp
  src/data/pack.cpp
  src/data/video.cpp
  src/data/face.cpp
  src/data/face_track.cpp
  src/data/framing.cpp
  src/data/prepare.cpp
  src/data/importers_common.cpp
  src/data/import_ffpp.cpp
  src/data/import_celebdf.cpp
  src/data/import_folders.cpp
  src/data/self_blend.cpp
  src/data/synth.cpp
  src/detect/detect.cpp
  src/detect/result.cpp
  src/detect/inputs.cpp
  src/detect/grad_cam.cpp
  src/detect/heatmap.cpp
  src/detect/timeline.cpp
  src/eval/plot.cpp
  src/train/trainer_files.cpp
  src/train/run_dir.cpp
)

# the HTTP server (sola serve; cpp-httplib)
set(SOLA_SERVE_SOURCES
  src/serve/server.cpp
  src/serve/request.cpp
  src/serve/detector_pool.cpp
  src/serve/gate.cpp
  src/serve/video_upload.cpp
  src/serve/web_page.cpp
)

# config resolution shared by the subcommands (CLI11)
set(SOLA_CLI_COMMON_SOURCES
  src/cli/common.cpp
)
